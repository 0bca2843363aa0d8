"""``check-iac -o junit``: JUnit XML, what Azure Pipelines' PublishTestResults (and most CI) read.

One test case per registry and rule: a finding is a failure (drift, flagged, unknown), a rule
that does not apply is skipped, an input that could not be read is an error of its own case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from acrguard.iac.check import Report


def document(report: Report) -> str:
    suites = ET.Element("testsuites", name="acrguard check-iac")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suite = ET.SubElement(suites, "testsuite", name="acrguard check-iac")
    for judged in report.judged:
        found = judged.found
        where = f"{found.file}:{found.line}" if found.line else found.file
        for verdict in judged.verdicts:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=f"{where} {found.symbol}", name=verdict.rule, file=found.file
            )
            if verdict.finding:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=verdict.reason, type=verdict.outcome)
                failure.text = (
                    f"{verdict.rule} on {found.symbol} ({where}): {verdict.outcome}: {verdict.reason}"
                )
            elif verdict.outcome == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=verdict.reason)
    for error in report.errors:
        counts["tests"] += 1
        counts["errors"] += 1
        case = ET.SubElement(suite, "testcase", classname=error.file, name="read", file=error.file)
        ET.SubElement(case, "error", message=error.message, type="input")
    for key, value in counts.items():
        suite.set(key, str(value))
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
