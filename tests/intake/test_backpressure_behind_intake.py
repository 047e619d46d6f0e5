"""The full journal's and the connection's guarantees again, with webhooks answered by the intake process.

It journals in its own process and runs its own HTTP server: a repeat answered as its duplicate once the
journal is full, a pipelined request answered, an early answer saying the connection closes, a neighbour's
/48 lockout leaving a valid token be, whichever process takes the request.
"""

from tests.reliability.test_backpressure import (  # noqa: F401 - collected here again, under this module's SERVER
    test_a_connection_answered_before_its_body_arrived_is_closed_however_slowly_the_body_comes,
    test_a_pipelined_request_whose_body_comes_after_the_answer_before_it_is_answered_too,
    test_a_resend_of_an_accepted_signal_is_still_its_duplicate_once_the_journal_is_full,
    test_an_answer_sent_before_its_body_arrived_says_the_connection_closes_and_is_read_whole,
    test_an_answer_sent_before_its_body_arrived_to_a_closing_request_is_read_whole_before_closing,
)
from tests.security.test_attacks import (  # noqa: F401
    test_an_attacker_rotating_the_64s_of_a_48_is_locked_out_by_the_48_but_not_its_valid_senders,
    test_strangers_journal_a_bounded_number_of_rows_a_minute_and_senders_with_the_token_all,
)

SERVER = "  intake_process: true\n"
