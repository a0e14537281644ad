// Public API of the statement analyzer (package export "auditgate/analysis").
export { analyze, analyzerReady, loadAnalyzer } from './analyze.js';
export type {
  AnalyzeOptions,
  ColumnRef,
  CopyFacts,
  FunctionRef,
  Operation,
  PreparedRegistry,
  SetFacts,
  StatementFacts,
  StatementKind,
  TableAccess,
  TableRef,
} from './facts.js';
