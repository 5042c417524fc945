import { describe, expect, it } from "vitest";
import { axisNumber, bytes, ms, usd } from "./format";

describe("format", () => {
  it("shows durations in the unit that reads best", () => {
    expect([ms(0.25), ms(5.123), ms(42.4), ms(1500), ms(90_000), ms(null)]).toEqual([
      "250 µs",
      "5.1 ms",
      "42 ms",
      "1.50 s",
      "1.5 min",
      "–",
    ]);
  });

  it("shows sizes in KiB, MiB or GiB", () => {
    expect([bytes(300), bytes(200_000), bytes(3 * 2 ** 20), bytes(80 * 2 ** 30)]).toEqual([
      "1 KiB",
      "196 KiB",
      "3 MiB",
      "80.0 GiB",
    ]);
  });

  it("keeps tiny costs and axis values readable", () => {
    expect([usd(0), usd(5.07e-5), usd(1.5)]).toEqual(["$0", "$5.07e-5", "$1.50"]);
    expect([axisNumber(0), axisNumber(0.00002), axisNumber(1_400_000), axisNumber(35)]).toEqual(
      ["0", "2.0e-5", "1.4M", "35"],
    );
  });
});
