export {
  type Change,
  type ChangeCategory,
  changesOf,
  describeAction,
  EMPTY_PLAN_MESSAGE,
  emptyPlanMessage,
  KIND_LABELS,
  phaseOf,
  planChanges,
  type ReportOptions,
  removalCount,
  subjectCount,
  summarizeByKind,
} from './describe.js';
export { escapeHtml, renderHtml } from './html.js';
export {
  PlanFileError,
  type PlanFileIssue,
  parseOpsJson,
  parsePlanJson,
  renderJson,
  renderJsonChunks,
  renderOpsJson,
  renderOpsJsonChunks,
} from './json.js';
export { gzipChunks, jsonChunks, Mapped } from './jsonChunks.js';
export { escapeMarkdown, renderMarkdown } from './markdown.js';
export { showControls, terminalText } from './text.js';
export { type ReportPaths, writeReports } from './writeReports.js';
