export { Controller, type ControllerDeps } from './controller.js';
export { windowAt, changePeriod, periodAt, type PeriodSegment, type Window } from './windows.js';
