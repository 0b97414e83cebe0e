// The connector page's frame: the connector (polled every 2 s), its header and actions on every
// tab, the tabs, and the current tab's content.
import { Link } from "wouter-preact";
import { api, must, type Connector } from "../../api/client";
import { ErrorBox, Loading } from "../../components/states";
import { Tabs } from "../../components/badges";
import { useAsync } from "../../lib/async";
import { ConnectorHeader } from "./header";
import { Actions } from "./actions";
import { StatusTab } from "./status-tab";
import { ChartsTab } from "./charts-tab";
import { EventsTab } from "./events-tab";
import { UnsyncedTab } from "./unsynced-tab";
import { AlertsTab } from "./alerts-tab";
import { TraceTab } from "./trace-tab";

export const TABS = [
  { id: "status", label: "Status" },
  { id: "charts", label: "Charts" },
  { id: "events", label: "Events" },
  { id: "unsynced", label: "Unsynced documents" },
  { id: "alerts", label: "Alerts" },
  { id: "trace", label: "Trace" },
];

/** What every tab gets. */
export interface TabProps {
  appId: string;
  connectorId: string;
  connector: Connector;
  reload: () => Promise<void>;
}

export function ConnectorView({ appId, connectorId, tab }: { appId: string; connectorId: string; tab: string }) {
  const state = useAsync(
    () => must(api.GET("/v1/apps/{appId}/connectors/{connectorId}", { params: { path: { appId, connectorId } } })),
    [appId, connectorId],
    2000,
  );
  const c = state.data;
  if (!c) {
    return (
      <>
        <h1>Connector</h1>
        {state.error ? <ErrorBox error={state.error} title="Could not load the connector" /> : <Loading what="the connector" />}
        <p>
          <Link href={`/apps/${appId}`}>Back to the app's connectors</Link>
        </p>
      </>
    );
  }
  const props: TabProps = { appId, connectorId, connector: c, reload: state.reload };
  const base = `/apps/${appId}/connectors/${connectorId}`;
  return (
    <>
      <ConnectorHeader connector={c} />
      {state.error && <ErrorBox error={state.error} title="Could not refresh the connector" />}
      <Actions {...props} />
      <Tabs label="Connector sections" current={tab} tabs={TABS.map((t) => ({ ...t, href: `${base}/${t.id}` }))} />
      <TabContent tab={tab} {...props} />
    </>
  );
}

function TabContent({ tab, ...props }: TabProps & { tab: string }) {
  switch (tab) {
    case "status":
      return <StatusTab {...props} />;
    case "charts":
      return <ChartsTab {...props} />;
    case "events":
      return <EventsTab {...props} />;
    case "unsynced":
      return <UnsyncedTab {...props} />;
    case "alerts":
      return <AlertsTab {...props} />;
    case "trace":
      return <TraceTab {...props} />;
    default:
      return (
        <>
          <h2>No such section</h2>
          <p>
            The connector has no section “{tab}”.{" "}
            <Link href={`/apps/${props.appId}/connectors/${props.connectorId}/status`}>Show its status</Link>.
          </p>
        </>
      );
  }
}
