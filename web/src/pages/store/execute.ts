// Running a DQL statement against the app's edge store.
import { api, must, type Schemas } from "../../api/client";
import type { Row } from "./table";

export type Result = Omit<Schemas["ExecuteOut"], "items"> & { items: Row[] };

export async function execute(appId: string, statement: string, args?: Record<string, unknown> | null): Promise<Result> {
  const body: Schemas["ExecuteIn"] = { statement };
  // The schema types `args` as an object of unknown members; any JSON object is fine.
  if (args) body.args = args as Schemas["ExecuteIn"]["args"];
  const out = await must(api.POST("/v1/apps/{appId}/store/execute", { params: { path: { appId } }, body }));
  return { ...out, items: out.items as Row[] };
}
