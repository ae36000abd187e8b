// The app's tests import `endpoints` from here; it is @backbone/testing's `testEndpoints`.
export { testEndpoints as endpoints } from '@backbone/testing';
