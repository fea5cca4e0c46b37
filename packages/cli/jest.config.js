import preset from '../../jest.preset.js';

// One suite at a time: the consistency and CLI suites each start real 3-instance fleets
// (up to two at once in `demo --quick`, about 25 Postgres connections each); in parallel on a
// bigger machine they would crowd a max_connections = 100 Postgres shared with other suites.
export default { ...preset, maxWorkers: 1 };
