@tpp-tatra @tpp-tatra-receiver
Feature: A TPP's Tatra-style webhook receiver (Webhook Security Header)
  The harness plays the bank (the referee): it POSTs the two kinds of webhook body,
  {"transactionEvent": {...}} and {"accountEvent": {...}} (the answer to a PUT /refresh), as
  JSON to the TPP's [tatra] url, with the security header the profile names
  ([tatra] authorization) as Authorization, byte for byte (none when it names none). Both kinds
  must be accepted with a 2xx; a call without that Authorization, or with another one, must be
  refused with a 4xx (no rule names the code).

  @TB-14
  Scenario: A transactionEvent carrying the configured Authorization is accepted with 2xx
    When the referee sends a Tatra transactionEvent with the configured Authorization to the TPP
    Then the TPP accepts the webhook with 2xx

  @TB-14
  Scenario: An accountEvent (a refresh finished) carrying the configured Authorization is accepted with 2xx
    When the referee sends a Tatra accountEvent with the configured Authorization to the TPP
    Then the TPP accepts the webhook with 2xx

  @TB-13 @tpp-tatra-authorization
  Scenario: A webhook without the configured Authorization is refused
    Given the TPP has accepted a Tatra transactionEvent with the configured Authorization
    When the referee sends a Tatra transactionEvent with no Authorization to the TPP
    Then the TPP refuses the webhook with a 4xx

  @TB-13 @tpp-tatra-authorization
  Scenario: A webhook with another Authorization than the configured one is refused
    Given the TPP has accepted a Tatra transactionEvent with the configured Authorization
    When the referee sends a Tatra transactionEvent with a wrong Authorization to the TPP
    Then the TPP refuses the webhook with a 4xx
