// Connects masking to the relay: one ResultMasker per statement result that needs one, with
// the catalog resolver of the session's upstream database and the policy's classification.
import type { Verdict } from '../session/statement-gate.js';
import type { ResultFilter } from '../session/result-filter.js';
import type { CatalogResolver } from './catalog.js';
import { classifiedColumns, type MaskingConfig } from './classification.js';
import { ResultMasker } from './masker.js';
import type { MaskMethod } from './methods.js';

export interface MaskingSetup {
  /** The catalog resolver of the upstream database a session uses. */
  resolverFor(database: string): CatalogResolver;
  hashKey: string | null;
  defaultMethod: string;
  /** The policy bundle's data: its masking classification (default policy layout) if it has one. */
  policyData: () => unknown;
}

/** The classification in the default policy's data (data.auditgate_config.masking), if present. */
export function classificationOf(data: unknown): Map<string, MaskMethod> {
  const masking = (data as { auditgate_config?: { masking?: MaskingConfig } } | null)?.auditgate_config?.masking;
  return classifiedColumns(masking);
}

/** A factory the relay calls per statement result; null when the result passes untouched. */
export function maskingFilterFactory(setup: MaskingSetup, database: string) {
  let classified: { data: unknown; map: Map<string, MaskMethod> } | null = null;
  return (verdict: Verdict, index: number): ResultFilter | null => {
    const decision = verdict.decisions[index] ?? verdict.decisions[0];
    const facts = verdict.facts[index] ?? verdict.facts[0];
    if (!decision || !facts) return null;
    const data = setup.policyData();
    // Recomputed only after a bundle reload changed the data.
    const current = classified !== null && classified.data === data ? classified : { data, map: classificationOf(data) };
    classified = current;
    const classifiedMap = current.map;
    const masker = new ResultMasker({
      decision,
      resolver: setup.resolverFor(database),
      hashKey: setup.hashKey ?? '',
      defaultMethod: setup.defaultMethod,
      touchedSensitive: decision.tags.includes('sensitive') || decision.detectors.length > 0,
      classified: classifiedMap,
      seenTables: facts.tables,
    });
    if (!masker.active) return null;
    const copy = facts.copy;
    return {
      onRowDescription(message, formats) {
        if (formats) masker.setResultFormats(formats);
        return masker.onRowDescription(message);
      },
      onDataRow: (m) => masker.onDataRow(m),
      onCopyOutResponse: (m) =>
        masker.onCopyOutResponse(m, {
          table: copy?.relation ?? null,
          columns: copy?.columns ?? null,
          format: copy?.format ?? null,
          delimiter: copy?.delimiter ?? null,
          null: copy?.null_string ?? null,
          quote: copy?.quote ?? null,
          escape: copy?.escape ?? null,
          header: copy?.header ?? null,
        }),
      onCopyData: (m) => masker.onCopyData(m),
      onErrorOrNotice: (m) => masker.onErrorOrNotice(m),
      summary: () => ({ masked: masker.counts(), detectorHits: masker.detectorHits() }),
    };
  };
}
