"""The shared "Re6st Token" instances as the last instance run saw them
(the requests file that the token-manager recipe writes), each validated
against instance-token-input-schema.json on its own: one bad request
harms no other."""
import json

from ..lib import files
from ..lib.slap import request_parameters
from ..lib.validation import check_request


def read_requests(path, schema):
    """{reference: parameters (typed: lib.strings.typed)} of the valid
    shared instances and {reference: error sentence} of the invalid ones,
    as the last instance run saw them; None when there is no such file yet
    (which must never be taken for "no shared instance")."""
    text = files.read(path)
    if text is None:
        return None
    shared = json.loads(text)
    valid, invalid = {}, {}
    for item in shared:
        reference = item['reference']
        try:
            parameters = request_parameters(item['parameters'])
        except ValueError as e:
            invalid[reference] = str(e)
            continue
        parameters, problems = check_request(parameters, schema)
        if problems:
            invalid[reference] = ' '.join(problems)
        else:
            valid[reference] = parameters
    return valid, invalid
