// Only for the drill tests, which a concurrent change is editing; everything else imports
// `testEndpoints` from @backbone/testing directly. Remove once they do too.
export { testEndpoints as endpoints } from '@backbone/testing';
