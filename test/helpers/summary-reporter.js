// Jest reporter: when RADBERT_TEST_REPORT names a file, writes {passed, failed, suitesFailed} there (.ci/run reads it).
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const file = process.env.RADBERT_TEST_REPORT;
    if (!file) return;
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests,
      suitesFailed: results.numRuntimeErrorTestSuites + results.numFailedTestSuites,
      total: results.numTotalTests,
    };
    require('fs').writeFileSync(file, JSON.stringify(summary) + '\n');
  }
}
module.exports = SummaryReporter;
