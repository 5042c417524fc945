import { fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider, useAuth } from "../auth";
import { SignIn } from "./SignIn";

function KeyShown() {
  const { apiKey } = useAuth();
  return <output>{apiKey ?? "signed out"}</output>;
}

function renderSignIn() {
  render(
    <AuthProvider>
      <SignIn />
      <KeyShown />
    </AuthProvider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe("SignIn", () => {
  it("refuses a key the API refuses, and keeps nothing", async () => {
    const fetch = vi.fn().mockResolvedValue(new Response("{}", { status: 401 }));
    vi.stubGlobal("fetch", fetch);
    renderSignIn();
    fireEvent.change(screen.getByLabelText("Tenant API key"), { target: { value: "bad" } });
    fireEvent.click(screen.getByText("Sign in"));
    expect((await screen.findByRole("alert")).textContent).toMatch(/refused/);
    expect(screen.getByText("signed out")).toBeTruthy();
    expect(sessionStorage.length).toBe(0);
    const [url, init] = fetch.mock.calls[0];
    expect(url).not.toContain("bad"); // the key goes as a header, never in the URL
    expect(init.headers.authorization).toBe("Bearer bad");
  });

  it("keeps an accepted key for the session", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(Response.json({ traces: [], next_cursor: null })),
    );
    renderSignIn();
    fireEvent.change(screen.getByLabelText("Tenant API key"), { target: { value: "axk_ok" } });
    fireEvent.click(screen.getByText("Sign in"));
    expect(await screen.findByText("axk_ok")).toBeTruthy();
    expect(sessionStorage.getItem("axonize.apiKey")).toBe("axk_ok");
  });
});
