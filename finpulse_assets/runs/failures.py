"""What a finished run says about itself: metadata values as plain data and the root cause of a failure."""

from __future__ import annotations


def metadata_value(value):
    """A MetadataValue's plain value (anything else as it is)."""
    return getattr(value, "value", value)


def root_cause(error) -> str:
    """'Type: message' of the innermost exception in a SerializableErrorInfo's cause chain.

    Dagster wraps what an op raised ("Error occurred while executing op ..."); the cause chain holds it.
    An inner exception whose message an outer one already quotes (a SourceFileError naming the file
    around the parser's error) is summed up by that outer one, which says more."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    root = chain[-1]
    for outer in chain[:-1]:
        text = _message(root)
        if not (outer.cls_name or "").startswith("Dagster") and text and text in _message(outer):
            root = outer
            break
    return f"{root.cls_name or 'Error'}: {_message(root)}"


def _message(error) -> str:
    """The exception's message without the 'module.Type: ' prefix format_exception_only puts on it."""
    text = (error.message or "").strip()
    head, sep, rest = text.partition(": ")
    if sep and head.split(".")[-1] == error.cls_name:
        return rest.strip()
    return text


def failure_message(result) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            return f"{event.step_key}: {root_cause(error) if error else 'failed'}"
    return "run failed"
