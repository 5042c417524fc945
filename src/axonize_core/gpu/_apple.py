"""Apple Silicon GPUs through IOKit (ctypes), read like ``ioreg -c IOAccelerator`` does.

Import-safe everywhere: nothing is loaded until :class:`AppleBackend` is built, and
:func:`available` is False off macOS on Apple Silicon.  The GPU shares the machine's memory, so
``memory.total_bytes`` is the RAM size and ``memory.used_bytes`` what the GPU holds of it
(``In use system memory``); utilization is ``Device Utilization %``.  Apple exposes no power or
energy counter without root (``powermetrics``), so those stay absent.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from typing import Any

from axonize_core.gpu._types import DiscoveredGPU, GpuError, GpuSample

_CF_STRING_UTF8 = 0x08000100
_CF_NUMBER_SINT64 = 4


def available() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


class AppleBackend:
    name = "apple"
    vendor = "apple"

    def __init__(self) -> None:
        if not available():
            raise GpuError("Apple Silicon GPUs exist only on macOS arm64")
        self._iokit = ctypes.cdll.LoadLibrary("/System/Library/Frameworks/IOKit.framework/IOKit")
        self._cf = ctypes.cdll.LoadLibrary(
            "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation")
        cf, iokit = self._cf, self._iokit
        cf.CFStringCreateWithCString.restype = ctypes.c_void_p
        cf.CFStringCreateWithCString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
        cf.CFDictionaryGetValue.restype = ctypes.c_void_p
        cf.CFDictionaryGetValue.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        cf.CFNumberGetValue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        cf.CFRelease.argtypes = [ctypes.c_void_p]
        iokit.IOServiceMatching.restype = ctypes.c_void_p
        iokit.IOServiceMatching.argtypes = [ctypes.c_char_p]
        iokit.IOServiceGetMatchingServices.argtypes = [
            ctypes.c_uint32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        iokit.IOIteratorNext.restype = ctypes.c_uint32
        iokit.IOIteratorNext.argtypes = [ctypes.c_uint32]
        iokit.IORegistryEntryCreateCFProperties.argtypes = [
            ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_uint32]
        iokit.IOObjectRelease.argtypes = [ctypes.c_uint32]
        self._keys = {k: self._cfstr(k) for k in (
            "PerformanceStatistics", "Device Utilization %", "In use system memory", "model")}

    def _cfstr(self, text: str) -> Any:
        return self._cf.CFStringCreateWithCString(None, text.encode(), _CF_STRING_UTF8)

    def _properties(self) -> Any:
        iterator = ctypes.c_uint32(0)
        matching = self._iokit.IOServiceMatching(b"IOAccelerator")
        if self._iokit.IOServiceGetMatchingServices(0, matching, ctypes.byref(iterator)) != 0:
            raise GpuError("IOAccelerator not found")
        service = self._iokit.IOIteratorNext(iterator)
        self._iokit.IOObjectRelease(iterator)
        if not service:
            raise GpuError("no IOAccelerator service")
        props = ctypes.c_void_p()
        rc = self._iokit.IORegistryEntryCreateCFProperties(service, ctypes.byref(props), None, 0)
        self._iokit.IOObjectRelease(service)
        if rc != 0 or not props:
            raise GpuError("cannot read the GPU's properties")
        return props

    def _number(self, dictionary: Any, key: str) -> int | None:
        value = self._cf.CFDictionaryGetValue(dictionary, self._keys[key])
        if not value:
            return None
        out = ctypes.c_int64(0)
        if not self._cf.CFNumberGetValue(value, _CF_NUMBER_SINT64, ctypes.byref(out)):
            return None
        return int(out.value)

    def discover(self) -> list[DiscoveredGPU]:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        self._properties()  # fails here, not in the sampler, if IOKit cannot be read
        return [DiscoveredGPU(0, "apple-gpu-0", f"Apple {platform.processor() or 'GPU'}",
                              self.vendor, int(total))]

    def sample(self, gpu: DiscoveredGPU, time_ns: int) -> GpuSample:
        props = self._properties()
        try:
            perf = self._cf.CFDictionaryGetValue(props, self._keys["PerformanceStatistics"])
            if not perf:
                raise GpuError("no PerformanceStatistics", gpu.uuid)
            util = self._number(perf, "Device Utilization %")
            used = self._number(perf, "In use system memory")
        finally:
            self._cf.CFRelease(props)
        return GpuSample(time_ns, None if util is None else float(util), used, None, None, None)

    def close(self) -> None:
        pass
