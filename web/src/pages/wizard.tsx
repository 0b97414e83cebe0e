// The connector create wizard (/apps/:appId/connectors/new); the work is in ./setup/.
import { WizardPage } from "./setup/wizard-page";

export function CreateWizard({ appId }: { appId: string }) {
  return <WizardPage appId={appId} />;
}
