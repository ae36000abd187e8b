// The app's tests import `freePort` from here; it is @backbone/testing's.
export { freePort } from '@backbone/testing';
