// Jest's own runner, serial: the files of a project that uses it run one at a time in Jest's own
// process whatever Jest is told (no --runInBand, --maxWorkers, every project at once). Lesson 07's
// cluster files each start the cluster and kill its nodes: two side by side would race.
const TestRunner = require('jest-runner').default;

module.exports = class SerialRunner extends TestRunner {
  isSerial = true;
};
