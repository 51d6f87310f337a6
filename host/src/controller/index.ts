export { Controller, type ControllerDeps } from './controller.js';
