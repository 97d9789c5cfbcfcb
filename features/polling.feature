@trigger @polling-api @polling
Feature: Aggregated polling: poll, acknowledge, report errors
  POST /events returns awaiting SETs keyed by jti; acknowledged SETs are released for good;
  maxEvents bounds a batch and moreAvailable says when SETs were left out (obie-rules.md
  section 4, RFC 8936 section 2).

  Background:
    Given TPP A starts clean
    And TPP A is subscribed for polling

  @AP-06 @AP-05 @AP-13 @R8936-16 @R8936-02
  Scenario: A poll returns the awaiting SET keyed by its jti
    Given 1 event happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns every expected event
    And moreAvailable is false

  @AP-05 @R8936-16 @R8936-07
  Scenario: With nothing awaiting, a short poll answers at once with empty sets
    When TPP A polls
    Then the poll succeeds
    And the poll returns no SETs
    And moreAvailable is false
    And the poll was answered within 2000 ms

  @AP-09 @R8936-11
  Scenario: An acknowledged SET is never served again
    Given 2 events happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A acknowledges the received SETs
    Then the poll succeeds
    When TPP A polls
    Then the poll succeeds
    And the poll returns none of the acknowledged SETs
    When TPP A polls
    Then the poll returns none of the acknowledged SETs

  @AP-14 @R8936-23 @AP-07
  Scenario: An acknowledge-only request (maxEvents 0) returns no SETs
    Given 2 events happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A acknowledges the received SETs
    Then the poll succeeds
    And the poll returns no SETs

  @R8936-24 @AP-14 @R8936-23
  Scenario: Poll and acknowledge in one request: acks apply before the batch is chosen
    Given 2 events happened for TPP A
    And TPP A has polled the awaiting SETs
    And 1 more event happened for TPP A
    When TPP A polls and acknowledges the received SETs
    Then the poll succeeds
    And the poll returns none of the acknowledged SETs
    And the poll returns the events not yet acknowledged

  @R8936-23 @AP-04
  Scenario: Empty ack and empty setErrs are a plain poll
    Given 1 event happened for TPP A
    When TPP A polls with:
      """
      {"returnImmediately": true, "ack": [], "setErrs": {}}
      """
    Then the poll succeeds
    And the poll returns every expected event

  @AP-09 @R8936-11
  Scenario: Acknowledging the same jti twice in one request is harmless
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A polls with:
      """
      {"returnImmediately": true, "maxEvents": 0, "ack": ["{jti1}", "{jti1}"]}
      """
    Then the poll succeeds
    When TPP A polls
    Then the poll returns no SETs

  @AP-10 @R8936-23
  Scenario: Reporting errors (setErrs only) is answered 200 with no SETs
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A reports the received SETs as errors
    Then the poll succeeds
    And the poll returns no SETs

  @AP-10 @errored-redelivered
  Scenario: A SET reported in setErrs stays awaiting and is redelivered unchanged
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A reports the received SETs as errors
    Then the poll succeeds
    When TPP A polls
    Then the poll succeeds
    And the poll returns the SETs reported as errors

  @AP-10 @errored-dropped
  Scenario: A SET reported in setErrs is not redelivered (documented deviation)
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A reports the received SETs as errors
    Then the poll succeeds
    When TPP A polls
    Then the poll returns none of the SETs reported as errors

  @AP-07 @R8936-03 @AP-12 @R8936-17
  Scenario: maxEvents bounds the batch and moreAvailable says SETs were left out
    Given 3 events happened for TPP A
    When TPP A polls with maxEvents 2
    Then the poll succeeds
    And the poll returns 2 SETs
    And moreAvailable is true

  @AP-12 @AP-07 @R8936-17
  Scenario: moreAvailable is false once every awaiting SET was returned
    Given 2 events happened for TPP A
    When TPP A polls with maxEvents 2
    Then the poll succeeds
    And the poll returns 2 SETs
    And moreAvailable is false

  @AP-07 @R8936-03
  Scenario: maxEvents 0 returns nothing even when SETs are awaiting
    Given 2 events happened for TPP A
    When TPP A polls with maxEvents 0
    Then the poll succeeds
    And the poll returns no SETs

  @R8936-04 @AP-07 @no-default-batch
  Scenario: Without maxEvents every awaiting SET up to the bank's cap is returned
    Given 12 events happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns 12 SETs, or the bank's maxEvents cap if that is lower
    And moreAvailable is true exactly when SETs were left out

  @AP-07 @AP-16 @default-batch
  Scenario: Without maxEvents the bank's documented default batch applies
    Given one event more than the bank's default batch happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns as many SETs as the bank's default batch
    And moreAvailable is true

  @AP-07 @AP-12 @AP-16 @cap-truncate
  Scenario: maxEvents above the bank's cap is truncated to the cap with moreAvailable
    Given one event more than the bank's maxEvents cap happened for TPP A
    When TPP A polls with maxEvents one above the bank's cap
    Then the poll succeeds
    And the poll returns as many SETs as the bank's maxEvents cap
    And moreAvailable is true

  @AP-07 @AP-12 @cap-truncate @no-default-batch
  Scenario: Without maxEvents a poll stops at the bank's cap and says more are available
    Given one event more than the bank's maxEvents cap happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns as many SETs as the bank's maxEvents cap
    And moreAvailable is true

  @AP-11 @unknown-ack-ignored
  Scenario: An ack naming a jti never issued is ignored
    Given 1 event happened for TPP A
    When TPP A polls with:
      """
      {"returnImmediately": true, "ack": ["obevents-never-issued-jti"]}
      """
    Then the poll succeeds
    And the poll returns every expected event

  @R8936-19 @R8417-08 @redelivers-unacked
  Scenario: An unacknowledged SET is offered again with the same jti and claims
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A polls
    Then the poll succeeds
    And the poll returns the SETs received before, with identical claims

  @R8936-06 @oldest-first
  Scenario: SETs are offered oldest first, as the bank documents
    Given 3 events happened for TPP A
    When TPP A polls with maxEvents 1
    Then the poll returns the oldest expected event
