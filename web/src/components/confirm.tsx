// A button whose action asks first, in a modal dialog (focus kept inside, Escape cancels).
import type { ComponentChildren } from "preact";
import { useId, useRef } from "preact/hooks";

export function ConfirmButton(props: {
  label: string;
  title: string;
  children: ComponentChildren;
  confirmLabel?: string;
  /** The button's accessible name when its text alone is ambiguous (e.g. "Revoke ci key" in a table row). */
  ariaLabel?: string;
  danger?: boolean;
  disabled?: boolean;
  onConfirm: () => void | Promise<void>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = `confirm-${props.label.replace(/\W+/g, "-").toLowerCase()}-${useId()}`;
  return (
    <>
      <button
        type="button"
        class={props.danger ? "danger" : "secondary"}
        disabled={props.disabled}
        aria-label={props.ariaLabel}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} class="confirm">
        <form method="dialog">
          <h2 id={titleId}>{props.title}</h2>
          <div>{props.children}</div>
          <div class="row end">
            <button value="cancel" class="secondary" autofocus>
              Cancel
            </button>
            <button
              value="confirm"
              class={props.danger ? "danger" : "primary"}
              onClick={(e) => {
                e.preventDefault();
                dialog.current?.close();
                void props.onConfirm();
              }}
            >
              {props.confirmLabel ?? props.label}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
