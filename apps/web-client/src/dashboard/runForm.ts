/**
 * The "create a run" form: every input names its setting (data-field, dotted like "lora.rank"),
 * starts at the schema's default, and is read back into RunSettingsInput. Settings are checked
 * with the same schema the coordinator uses before they are sent; a refusal (here or from the
 * coordinator) is shown on the field at fault. The model is a select of the coordinator's model
 * directories (listModels); its value is the run's modelDir.
 */
import {
  LORA_TARGETS, LORA_MODULE_NAMES, parseModelDirChoice, parseRunSettings, ProtocolError, runSettingsSchema, type CreateRunRequest, type ModelList,
} from '@fedllm/core';
import { byId, el } from './dom';

type FieldElement = HTMLInputElement | HTMLSelectElement | HTMLFieldSetElement;

export class RunForm {
  private readonly form = byId<HTMLFormElement>('run-form');
  private readonly message = byId('run-form-message');

  private readonly modelSelect = byId<HTMLSelectElement>('model-dir');

  constructor(onSubmit: (request: CreateRunRequest) => Promise<void>) {
    const targets = byId('lora-targets');
    targets.replaceChildren(...LORA_TARGETS.map((t) => {
      const box = el('input');
      box.type = 'checkbox';
      box.value = t;
      box.name = 'lora.targets';
      return el('label', {}, [box, document.createTextNode(LORA_MODULE_NAMES[t].replace('_proj', ''))]);
    }));
    this.fill();
    this.form.addEventListener('input', (e) => this.clearError((e.target as HTMLElement).closest<HTMLElement>('[data-field]')?.dataset.field));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const settings = this.read();
      if (!this.check(settings)) return;
      this.say('Creating…', 'busy');
      onSubmit(settings).catch((err: unknown) => this.refused(err));
    });
  }

  /** Puts the schema's defaults in every field. */
  private fill(): void {
    const d = runSettingsSchema.parse({});
    for (const f of this.fields()) {
      const key = f.dataset.field!;
      if (key === 'modelDir') continue; // filled by showModels
      if (f instanceof HTMLFieldSetElement) {
        for (const box of f.querySelectorAll<HTMLInputElement>('input[type=checkbox]')) box.checked = d.lora.targets.includes(box.value as never);
        continue;
      }
      const v = key === 'partition.alpha' ? 0.5 : get(d, key);
      f.value = v === undefined ? '' : String(f.dataset.kind === 'seconds' ? Number(v) / 1000 : v);
    }
  }

  private fields(): FieldElement[] {
    return [...this.form.querySelectorAll<FieldElement>('[data-field]')];
  }

  /** The form as a createRun request; empty number fields are left out (the default applies), and so are an empty model and aggregation. */
  read(): CreateRunRequest {
    const out: Record<string, unknown> = {};
    for (const f of this.fields()) {
      const key = f.dataset.field!;
      if (f instanceof HTMLFieldSetElement) {
        set(out, key, [...f.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value));
        continue;
      }
      // An empty model (--model) or aggregation (the method's own rule) is left to the default.
      if (key === 'partition.alpha' || ((key === 'modelDir' || key === 'aggregation') && f.value === '')) continue;
      const kind = f.dataset.kind;
      if (!kind) {
        set(out, key, f.value);
        continue;
      }
      if (f.value.trim() === '') continue;
      const n = Number(f.value);
      set(out, key, kind === 'seconds' ? Math.round(n * 1000) : n);
    }
    const partition = out.partition as { kind: string; alpha?: number };
    if (partition.kind === 'dirichlet') {
      const a = (this.form.querySelector<HTMLInputElement>('[data-field="partition.alpha"]')!).value;
      partition.alpha = a.trim() === '' ? Number.NaN : Number(a);
    }
    return out as CreateRunRequest;
  }

  /** Validates with the coordinator's own rules; shows the first refusal on its field. */
  private check(request: CreateRunRequest): boolean {
    this.clearError();
    try {
      parseRunSettings(request);
      parseModelDirChoice(request);
      return true;
    } catch (e) {
      this.refused(e);
      return false;
    }
  }

  /** Shows a refusal: on its field when it names one (a ProtocolError or an AdminRefusal). */
  refused(e: unknown): void {
    const field = (e as { field?: string }).field;
    const message = e instanceof ProtocolError || e instanceof Error ? e.message : String(e);
    this.say(message, 'error');
    if (field) this.showError(field, message);
  }

  created(runId: string): void {
    this.say(`Created ${runId}. Press Start when the tabs have joined.`, 'ok');
  }

  private showError(field: string, message: string): void {
    // "lora.targets.0" -> the closest field that exists: "lora.targets".
    let key = field;
    let target = this.find(key);
    while (!target && key.includes('.')) {
      key = key.slice(0, key.lastIndexOf('.'));
      target = this.find(key);
    }
    if (!target) return;
    target.setAttribute('aria-invalid', 'true');
    const note = el('span', { className: 'field-error', text: message, data: { errorFor: key } });
    note.setAttribute('role', 'alert');
    (target instanceof HTMLFieldSetElement ? target : target.parentElement!).append(note);
    target.focus?.();
  }

  private find(key: string): FieldElement | undefined {
    return this.fields().find((f) => f.dataset.field === key);
  }

  private clearError(field?: string): void {
    for (const n of this.form.querySelectorAll<HTMLElement>('.field-error')) if (!field || n.dataset.errorFor === field) n.remove();
    for (const f of this.fields()) if (!field || f.dataset.field === field) f.removeAttribute('aria-invalid');
  }

  /** Clears the form's message (the run it announced has started). */
  clearMessage(): void {
    this.say('', 'idle');
  }

  private say(text: string, state: 'busy' | 'ok' | 'error' | 'idle'): void {
    this.message.textContent = text;
    this.message.dataset.state = state;
  }

  /** Shows the model the coordinator serves now (the active run's). */
  showModel(text: string): void {
    byId('model-serving').textContent = `serving ${text}`;
  }

  /** Fills the model select from listModels, keeping the operator's pick; the default is --model. */
  showModels(list: ModelList): void {
    const picked = this.modelSelect.dataset.loaded ? this.modelSelect.value : undefined;
    const options = list.models.map((m) => {
      const o = el('option', { text: `${m.name} (${m.architecture}, ${m.numLayers} layers, hidden ${m.hiddenSize}, ${(m.weightsBytes / 2 ** 20).toFixed(1)} MiB)` });
      o.value = m.name;
      return o;
    });
    // --model outside the root still makes runs: the empty value means "the coordinator's default".
    if (list.defaultModel === null) {
      const o = el('option', { text: `${list.defaultDir} (--model)` });
      o.value = '';
      options.unshift(o);
    }
    this.modelSelect.replaceChildren(...options);
    this.modelSelect.value = picked !== undefined && options.some((o) => o.value === picked) ? picked : list.defaultModel ?? '';
    this.modelSelect.dataset.loaded = 'true';
  }
}

function get(o: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

function set(o: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]] = v;
}
