import { describe, expect, it } from "vitest";
import { STEPS, stepIndex, stepOfField, stepOfPointer } from "./steps";

describe("wizard steps", () => {
  it("tests the connection after the collections", () => {
    expect(STEPS.map((s) => s.title)).toEqual(["Connection", "Collections", "Test connection", "Preview", "Review"]);
    expect(stepIndex("test")).toBeGreaterThan(stepIndex("collections"));
  });
  it("finds the step of a field", () => {
    expect(stepOfField("f-connectionString")).toBe("connection");
    expect(stepOfField("f-c3-strict")).toBe("collections");
    expect(stepOfField("f-c3")).toBe("collections");
    expect(stepOfField("f-newCollection")).toBe("collections");
    expect(stepOfField("f-onHistoryLost")).toBe("collections");
    expect(stepOfField("f-c3-samples")).toBe("preview");
    expect(stepOfField("f-desiredState")).toBe("review");
  });
  it("finds the step of a pointer", () => {
    expect(stepOfPointer("/collections/x/y")).toBe("collections");
    expect(stepOfPointer("/autoConfigure")).toBe("collections");
    expect(stepOfPointer("/desiredState")).toBe("review");
    expect(stepOfPointer("/whatever")).toBe("connection");
    expect(stepOfPointer("")).toBe("connection");
  });
});
