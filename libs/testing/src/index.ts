export { uniqueName } from './unique-name.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
