// The review → confirm → start cycle every write form of the console goes through (backfill,
// restore): the request is planned on the server and shown; the user confirms exactly that plan,
// with any override it needs ticked explicitly (ticking plans again at once, so the plan shown is
// always the one that would run); start sends the plan's id, and a plan that changed meanwhile (409)
// is shown instead of running. Nothing is planned without a reason: it goes into the audit trail.
import { useState } from 'preact/hooks';
import { html, ErrorBox } from './ui.js';
import { ConfirmPlan } from './plan-view.js';
import { OverrideFields, overrideFields, overrideOptions } from './overrides.js';
import { post } from '../api.js';

/**
 * `requestOf(form)`: the request both paths take (the override fields are added here);
 * `extraOf(form)`: what only the action takes (e.g. a rate limit).
 */
export function usePlannedAction({ initial, planPath, actionPath, requestOf, extraOf = () => ({}) }) {
  const [form, setForm] = useState(initial);
  const [plan, setPlan] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const request = (f) => ({ ...requestOf(f), ...overrideFields(f) });

  const set = (patch) => {
    setForm({ ...form, ...patch });
    setPlan(null); // a changed request needs a new plan
  };
  const planFor = async (f) => {
    setBusy(true);
    setError(null);
    try {
      if (!f.reason.trim()) throw Object.assign(new Error('A reason is required: it is recorded in the audit trail.'), { hint: 'e.g. "upstream fix for EUR amounts, ticket 123"' });
      setPlan(await post(planPath, request(f)));
    } catch (err) {
      setError(err);
      setPlan(null);
    } finally {
      setBusy(false);
    }
  };
  const review = (e) => {
    e.preventDefault();
    return planFor(form);
  };
  const toggleOverride = (flag, on) => {
    const next = { ...form, [flag]: on };
    setForm(next);
    return planFor(next);
  };
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await post(actionPath, { ...request(form), ...extraOf(form), reason: form.reason.trim(), plan_id: plan.plan_id });
      location.hash = res.run_id ? `#/runs/${res.run_id}` : '#/runs';
    } catch (err) {
      setError(err);
      if (err.body?.plan) setPlan(err.body.plan); // the plan changed: show the new one
    } finally {
      setBusy(false);
    }
  };
  return { form, set, plan, error, busy, review, toggleOverride, start, cancel: () => setPlan(null) };
}

/** Below a form: its error, or the plan to confirm with its overrides. */
export function PlannedActionConfirm({ action, what }) {
  const { plan, form, busy, error } = action;
  if (!plan) return html`<${ErrorBox} error=${error} />`;
  return html`<${ConfirmPlan}
    plan=${plan}
    what=${what}
    reason=${form.reason.trim()}
    busy=${busy}
    error=${error}
    onCancel=${action.cancel}
    onConfirm=${action.start}
    overrides=${html`<${OverrideFields} plan=${plan} form=${form} onToggle=${action.toggleOverride} busy=${busy} />`}
    flags=${overrideOptions(form)}
  />`;
}
