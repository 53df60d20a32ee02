// Small pieces every page uses: a labelled field, an error line, a busy button.
import type { ComponentChildren, ComponentProps } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "./api";

let fieldIds = 0;

export function Field(props: { label: string; hint?: string } & ComponentProps<"input">) {
  const { label, hint, ...input } = props;
  const [id] = useState(() => `field-${++fieldIds}`);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} aria-describedby={hint ? `${id}-hint` : undefined} {...input} />
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return <p class="error" role="alert">{text}</p>;
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** State for a form's submission: busy while it runs, the error it ended with. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A) => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
    } catch (caught) {
      setError(caught instanceof ApiError || caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

export function submitting(handler: () => void) {
  return (event: Event) => {
    event.preventDefault();
    handler();
  };
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}
