// Result masking: the public API. docs/masking.md explains the contract and its limits.
export { ResultMasker, type ResultMaskerOptions, type OriginResolver, type CopyOutFacts, type MaskedColumnCount } from './masker.js';
export {
  CatalogResolver,
  type CatalogQueryable,
  type CatalogResolverOptions,
  type ColumnOrigin,
  type FieldOrigin,
  type QualifiedTable,
  type ResolvedColumn,
  type TableColumns,
} from './catalog.js';
export {
  buildRowPlan,
  blindRowPlan,
  maskRules,
  rulesActive,
  mergeCounts,
  type ColumnAction,
  type ColumnPlan,
  type MaskCount,
  type MaskReason,
  type MaskRules,
  type MaskRulesInput,
  type PlanField,
  type RowPlan,
  type StatementMaskInput,
} from './plan.js';
export {
  MASK_METHODS,
  REDACTED,
  normalizeMethod,
  maskText,
  hashValue,
  partialValue,
  emailValue,
  typeClass,
  type MaskMethod,
  type TypeClass,
} from './methods.js';
export { maskDataRow, MaskingError } from './datarow.js';
export { DETECTOR_NAMES, DetectorSet, detectorSet, scanAndRedact, luhnValid, type DetectorName, type DetectorHits } from './detectors.js';
export { maskErrorOrNotice } from './messages.js';
export { maskCopyTextRow, copyTextOptions, binaryCopyRefusal, type CopyTextFormat, type CopyTextOptions } from './copy.js';
export { readRowDescription, readCopyOutResponse, expandFormats, type RowDescriptionField, type CopyOutShape } from './wire.js';
export { parseViewTargets, type ViewTarget } from './view-targets.js';
export { classifiedColumns, type MaskingConfig } from './classification.js';
