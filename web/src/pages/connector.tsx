// A connector's page: header, actions and its tabs (status, charts, events, unsynced documents,
// alerts, trace). The page lives in ./connector/.
import { ConnectorView } from "./connector/page";

export function ConnectorPage(props: { appId: string; connectorId: string; tab: string }) {
  return <ConnectorView appId={props.appId} connectorId={props.connectorId} tab={props.tab} />;
}
