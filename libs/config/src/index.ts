export { REDACTED, redact, redactText } from './redact.ts';
