export { AppRunner, type AppRunnerOptions } from './runner.js';
export { dryRunInput, syntheticReference } from './dry-run.js';
export { RunnerSupervisor, runnerEntry, type SupervisorOptions } from './supervisor.js';
export {
  PluginSandbox,
  createSandbox,
  sandboxOf,
  MAX_OUTPUT_CHARS,
  type Sandbox,
  type SandboxInput,
  type SandboxOptions,
  type LogLine,
  type RunOptions,
} from './sandbox.js';
export { loadSandboxRuntime } from './runtime-bundle.js';
export { buildWindowData, readWindowRows, type WindowData } from './window-data.js';
export { checkLocal, dryRunLocal, runLocal, type LocalRunOptions, type LocalRunResult } from './local.js';
