// The connector editor (/apps/:appId/connectors/:connectorId/edit); the work is in ./setup/.
import { EditorPage } from "./setup/editor-page";

export function Editor({ appId, connectorId }: { appId: string; connectorId: string }) {
  return <EditorPage appId={appId} connectorId={connectorId} />;
}
