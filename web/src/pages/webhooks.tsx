// An app's webhooks: the list with the form to add one, or one webhook with its deliveries.
import { WebhookDetail } from "./access/webhook-detail";
import { WebhookList } from "./access/webhook-list";

export function WebhooksPage({ appId, webhookId }: { appId: string; webhookId: string | null }) {
  return webhookId ? <WebhookDetail key={webhookId} appId={appId} webhookId={webhookId} /> : <WebhookList appId={appId} />;
}
