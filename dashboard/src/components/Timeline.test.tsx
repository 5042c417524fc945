import { fireEvent, render, screen } from "@testing-library/react";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { wideTrace } from "../test-data";
import { Timeline } from "./Timeline";

// jsdom lays nothing out: give the scrolling box a screen's size, as a browser would.
beforeAll(() => {
  vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockReturnValue(600);
  vi.spyOn(HTMLElement.prototype, "clientWidth", "get").mockReturnValue(1000);
});

describe("Timeline", () => {
  it("renders only the rows on screen of a large trace", () => {
    const { container } = render(
      <Timeline roots={wideTrace(1500)} selected={null} onSelect={() => {}} />,
    );
    const rows = container.querySelectorAll(".row");
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(100); // of 3001 spans
    expect(screen.getByText(/3001 rows/)).toBeTruthy();
  });

  it("collapses a subtree and selects a span", () => {
    const onSelect = vi.fn();
    const { container } = render(
      <Timeline roots={wideTrace(3)} selected="c1" onSelect={onSelect} />,
    );
    expect(container.querySelectorAll(".row")).toHaveLength(7);
    expect(container.querySelector(".row.selected")?.getAttribute("data-span-id")).toBe("c1");
    fireEvent.click(screen.getAllByLabelText("collapse")[0]); // the root
    expect(container.querySelectorAll(".row")).toHaveLength(1);
    fireEvent.click(screen.getByText("span root"));
    expect(onSelect).toHaveBeenCalledWith("root");
  });

  it("zooms in on the middle and back out", () => {
    render(<Timeline roots={wideTrace(8)} selected={null} onSelect={() => {}} />);
    expect(screen.getByText(/showing 0 µs – 10\.0 ms/)).toBeTruthy();
    fireEvent.click(screen.getByText("Zoom in"));
    expect(screen.getByText(/showing 2\.5 ms – 7\.5 ms/)).toBeTruthy();
    fireEvent.click(screen.getByText("Fit"));
    expect(screen.getByText(/showing 0 µs – 10\.0 ms/)).toBeTruthy();
    fireEvent.doubleClick(screen.getByText("span c4")); // 4 ms to 6 ms, with a margin
    expect(screen.getByText(/showing 3\.9 ms – 6\.1 ms/)).toBeTruthy();
  });
});
