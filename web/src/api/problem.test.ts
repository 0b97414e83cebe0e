import { describe, expect, it } from "vitest";
import { ApiProblem, asProblem, problemFrom } from "./problem";

describe("problems", () => {
  it("keeps a problem document's code, detail, violations and request id", async () => {
    const body = {
      type: "urn:edgebridge:problem:validation_failed",
      title: "Validation failed",
      status: 422,
      detail: "The request has 1 invalid value(s); see `errors`.",
      code: "validation_failed",
      errors: [{ path: "/collections/tasks/dqlStrictMode", message: "must be false" }],
    };
    const response = new Response(JSON.stringify(body), { status: 422, headers: { "x-request-id": "r-1" } });
    const p = await problemFrom(response);
    expect(p.code).toBe("validation_failed");
    expect(p.detail).toMatch(/invalid value/);
    expect(p.requestId).toBe("r-1");
    expect(p.errorsAt("/collections/tasks")).toHaveLength(1);
    expect(p.errorsAt("/collections/task")).toHaveLength(0);
  });

  it("uses the body the client already read", async () => {
    const response = new Response("", { status: 401 });
    const p = await problemFrom(response, { code: "invalid_credentials", title: "Unauthorized", detail: "bad key" });
    expect(p.code).toBe("invalid_credentials");
    expect(p.detail).toBe("bad key");
  });

  it("names answers that are not problems by their status", async () => {
    const p = await problemFrom(new Response("<html>", { status: 502, statusText: "Bad Gateway" }));
    expect(p.code).toBe("http_502");
    expect(p.detail).toMatch(/502/);
  });

  it("turns a failed fetch into a network error that says what to check", () => {
    const p = asProblem(new TypeError("Failed to fetch"));
    expect(p).toBeInstanceOf(ApiProblem);
    expect(p.code).toBe("network_error");
    expect(p.detail).toMatch(/api is running/);
    expect(asProblem(p)).toBe(p);
  });
});
