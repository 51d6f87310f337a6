// The command line of a bench, parsed by yargs, strictly and before the bench starts anything:
// `--help` prints the usage and the options and exits 0; an unknown flag, a flag without its
// value, a number that is not one or a value not among an option's `choices` exits 1 with
// yargs's message.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

/**
 * The flags of `options` (yargs options, each with its `type`, `default` and `describe`) on this
 * process' command line; `usage` heads `--help`. An option that takes a value requires one
 * (`--rounds` alone is an error, not the default); a number option must be a number (yargs
 * itself gives NaN for `--rounds abc`); a flag given twice takes the last value.
 */
export function parseFlags(usage, options) {
  const numbers = Object.keys(options).filter((name) => options[name].type === 'number');
  const parser = yargs(hideBin(process.argv));
  return parser
    .usage(usage)
    .wrap(Math.min(120, parser.terminalWidth() ?? 120))
    .options(Object.fromEntries(Object.entries(options).map(([name, o]) => [name, checked(name, o)])))
    .check((argv) => {
      const bad = numbers.find((name) => argv[name] !== undefined && !Number.isFinite(argv[name]));
      return bad === undefined || `--${bad}: not a number`;
    })
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .version(false)
    .strict()
    .parseSync();
}

/** Option `o` of flag `name`: requiring its value (but a boolean's), its `coerce`'s error naming the flag. */
function checked(name, o) {
  const { coerce } = o;
  return {
    ...(o.type === 'boolean' ? {} : { requiresArg: true }),
    ...o,
    ...(coerce && {
      coerce: (value) => {
        try {
          return coerce(value);
        } catch (err) {
          throw new Error(`--${name}: ${err.message}`, { cause: err });
        }
      },
    }),
  };
}

/** For an option's `coerce`: a comma-separated list of numbers (`1,1024`) as an array, checked. */
export function numberList(text) {
  const list = text.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (!list.every(Number.isFinite)) throw new Error(`'${text}' is not a comma-separated list of numbers`);
  return list;
}
