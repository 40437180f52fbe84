import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type AlertRule, type BusEnvelope, compileAlertRules, type Severity } from '#core/alert-rules.ts';
import type { BusEntry, EventBus } from '#core/ports.ts';
import { LOCAL_ACCOUNT_ID } from './lambda-runtime.ts';

/** One rule firing on one bus entry. */
export interface FiredAlert {
  readonly rule: string;
  readonly severity: Severity;
  readonly description: string;
  readonly firedAt: string;
  /** The event as an EventBridge target would receive it. */
  readonly event: BusEnvelope;
}

export interface LocalAlertBusOptions {
  readonly rules: readonly AlertRule[];
  readonly region: string;
  /** Fired alerts are appended here, one JSON object per line. @default - not written */
  readonly file?: string;
  /** Prints one line per fired alert. @default - silent */
  readonly print?: (line: string) => void;
}

/**
 * The sandbox's EventBridge bus: wraps each entry in the envelope EventBridge delivers and matches it
 * against the alert catalogue with the same patterns CDK deploys (`event-pattern.ts`).
 */
export class LocalAlertBus implements EventBus {
  /** Every entry published, as envelopes. */
  readonly published: BusEnvelope[] = [];
  /** Every rule that fired, oldest first. */
  readonly fired: FiredAlert[] = [];
  private readonly match: (envelope: BusEnvelope) => AlertRule[];

  constructor(private readonly options: LocalAlertBusOptions) {
    this.match = compileAlertRules(options.rules);
  }

  async publish(entries: readonly BusEntry[]): Promise<void> {
    for (const entry of entries) {
      const envelope = this.envelope(entry);
      this.published.push(envelope);
      for (const rule of this.match(envelope)) this.fire(rule, envelope);
    }
  }

  private envelope(entry: BusEntry): BusEnvelope {
    // EventBridge carries the detail as JSON text: round-trip it so rules see exactly that.
    const detail: unknown = JSON.parse(JSON.stringify(entry.detail ?? {}));
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.detailType,
      source: entry.source,
      account: LOCAL_ACCOUNT_ID,
      time: (entry.time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region,
      resources: [],
      detail,
    };
  }

  private fire(rule: AlertRule, event: BusEnvelope): void {
    const alert: FiredAlert = {
      rule: rule.name,
      severity: rule.severity,
      description: rule.description,
      firedAt: new Date().toISOString(),
      event,
    };
    this.fired.push(alert);
    if (this.options.file) {
      mkdirSync(dirname(this.options.file), { recursive: true });
      appendFileSync(this.options.file, `${JSON.stringify(alert)}\n`);
    }
    this.options.print?.(`ALERT [${rule.severity}] ${rule.name}: ${describe(event)}`);
  }
}

function describe(event: BusEnvelope): string {
  const detail = event.detail as {
    eventId?: string;
    record?: { action?: string; actor?: { id?: string } };
    message?: string;
  };
  if (detail.record)
    return `${detail.record.action ?? '?'} by ${detail.record.actor?.id ?? '?'} (event ${detail.eventId ?? '?'})`;
  return detail.message ?? event['detail-type'];
}
