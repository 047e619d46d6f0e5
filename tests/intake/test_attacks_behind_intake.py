"""The attack and secrecy tests again, with webhooks answered by the intake process (`server.intake_process`).

A stranger must not get further, and no secret may reach a log or the journal, whichever process
takes the request: the imported tests run here with every daemon they start in that shape.
"""

from tests.security.test_attacks import (  # noqa: F401 - collected here again, under this module's SERVER
    test_a_request_head_without_end_is_refused_before_it_is_all_read,
    test_a_strangers_long_headers_are_journaled_cut_short,
    test_a_token_used_from_outside_allowed_sources_meets_the_lockout,
    test_a_webhook_url_with_an_empty_or_extra_segment_is_refused_journaled_and_never_echoed,
    test_bad_tokens_sent_through_tradingview_do_not_lock_out_tradingview,
    test_behind_a_trusted_proxy_only_the_hop_our_proxy_added_counts,
    test_other_methods_with_the_right_token_meet_the_source_and_rate_checks,
    test_rate_limit_then_lockout_after_repeated_bad_tokens,
    test_refused_requests_get_a_4xx_and_trade_nothing,
    test_the_admin_api_is_only_on_the_admin_listener_when_one_is_set,
)
from tests.security.test_escaped_secrets import (  # noqa: F401
    test_a_secret_escaped_in_a_forwarded_address_stays_out_of_the_log,
    test_a_secret_escaped_in_a_header_or_a_forwarded_address_is_journaled_masked,
    test_a_secret_of_digits_sent_as_a_json_number_is_masked_where_the_body_is_read_back,
    test_a_secret_written_with_json_escapes_in_the_body_is_journaled_masked,
    test_the_answer_echoes_the_payload_masked_as_it_is_journaled,
)
from tests.security.test_hosts import (  # noqa: F401
    test_a_rebound_name_reaches_neither_the_admin_api_nor_the_dashboard,
    test_a_rebound_page_cannot_lock_the_operator_out,
    test_webhooks_and_health_answer_a_tunnels_public_name,
)
from tests.security.test_secrecy import (  # noqa: F401
    test_a_mixed_case_token_sent_as_a_header_name_stays_out_of_the_journal,
    test_a_secret_in_a_long_forwarded_address_or_content_encoding_is_never_stored_cut_short,
    test_secrets_in_header_names_or_forwarded_addresses_stay_out_of_the_journal,
    test_signing_secrets_and_tokens_stay_out_of_the_log_and_the_journal,
)

SERVER = "  intake_process: true\n"
