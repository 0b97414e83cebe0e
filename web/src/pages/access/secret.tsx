// A secret the api answers once (a new API key, a webhook's signing secret): shown with a Copy
// button and the warning that it will not be shown again.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export function SecretOnce(props: {
  title: string;
  /** What the secret is, for the sentences: "key", "signing secret". */
  what: string;
  secret: string;
  onDismiss: () => void;
  children?: ComponentChildren;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  const value = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  useEffect(() => {
    setCopied(null);
    heading.current?.focus();
  }, [props.secret]);

  const selectText = () => {
    const el = value.current;
    const selection = typeof window === "undefined" ? null : window.getSelection();
    if (!el || !selection) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    selection.removeAllRanges();
    selection.addRange(range);
  };
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(props.secret);
      setCopied(`The ${props.what} is copied to the clipboard.`);
    } catch {
      selectText();
      setCopied(`Copying is not allowed here: the ${props.what} is selected, press Ctrl+C (or Cmd+C) to copy it.`);
    }
  };

  return (
    <section class="secret-once" aria-labelledby="secret-once-heading">
      <h2 id="secret-once-heading" ref={heading} tabIndex={-1}>
        {props.title}
      </h2>
      {props.children}
      <p>
        <strong>Copy the {props.what} now: it will not be shown again.</strong>
      </p>
      <code class="secret-value" ref={value}>
        {props.secret}
      </code>
      <div class="row">
        <button type="button" class="primary" onClick={copy}>
          Copy
        </button>
        <button type="button" class="secondary" onClick={props.onDismiss}>
          I have saved it
        </button>
        <span role="status" aria-live="polite" class="small">
          {copied}
        </span>
      </div>
    </section>
  );
}
