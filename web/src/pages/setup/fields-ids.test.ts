import { describe, expect, it } from "vitest";
import { cf, fieldOfElement, touchKey } from "./fields-ids";

describe("field ids", () => {
  it("names a collection's fields", () => {
    expect(cf("c3", "group")).toBe("f-c3");
    expect(cf("c3", "strict")).toBe("f-c3-strict");
    expect(cf("c3", "fields", 1)).toBe("f-c3-fields-1");
  });
  it("finds a radio button's field", () => {
    expect(fieldOfElement("f-c3-fields--several")).toBe("f-c3-fields");
    expect(fieldOfElement("f-name")).toBe("f-name");
  });
  it("touches a collection as a whole, other fields alone", () => {
    expect(touchKey("f-c3-mode")).toBe("f-c3");
    expect(touchKey("f-c12-fields-0")).toBe("f-c12");
    expect(touchKey("f-c3")).toBe("f-c3");
    expect(touchKey("f-connectionString")).toBe("f-connectionString");
    expect(touchKey("f-collectionsX")).toBe("f-collectionsX");
  });
});
