import preset from '../../jest.preset.js';

// One suite at a time: every file drives the same compose cluster, and a second file's
// containers or faults would land in the first one's measurements.
export default { ...preset, maxWorkers: 1 };
