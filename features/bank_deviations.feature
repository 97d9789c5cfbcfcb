@polling-api @deviations
Feature: Documented bank deviations
  Banks may document behaviours the OBIE text leaves open or does not impose — HSBC's limits on
  maxEvents, returnImmediately and unknown acks among them (obie-rules.md sections 10-11). A
  profile declares them; these scenarios hold a bank to what it declared.

  Background:
    Given TPP A starts clean
    And TPP A is subscribed for polling

  @AP-07 @AP-16 @cap-reject
  Scenario: maxEvents above the documented cap is refused with 400 UK.OBIE.Field.Invalid
    When TPP A polls with maxEvents one above the bank's cap
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Field.Invalid"

  @AP-07 @AP-16 @cap-reject @trigger
  Scenario: maxEvents at the documented cap is accepted
    Given 1 event happened for TPP A
    When TPP A polls with maxEvents equal to the bank's cap
    Then the poll succeeds
    And the poll returns every expected event

  @AP-11 @unknown-ack-rejected
  Scenario: An ack naming a jti never issued is refused with 400
    When TPP A polls with:
      """
      {"returnImmediately": true, "maxEvents": 0, "ack": ["obevents-never-issued-jti"]}
      """
    Then the response is an OBIE error with status 400

  @AP-11 @AP-09 @unknown-ack-rejected @trigger
  Scenario: An ack naming a jti that was issued is accepted
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A acknowledges the received SETs
    Then the poll succeeds
