@trigger @polling-api @long-polls
Feature: Long polling
  returnImmediately false — and its absence, the RFC 8936 default — asks the bank to hold the
  poll until a SET arrives or its timeout passes; banks that do not support long polling
  document what they do instead (obie-rules.md AP-08, section 10).

  Background:
    Given TPP A starts clean
    And TPP A is subscribed for polling

  @long-polling @AP-08 @R8936-08 @R8936-09
  Scenario: With nothing awaiting, a long poll is held until the bank's timeout, then answered empty
    When TPP A long-polls with:
      """
      {"returnImmediately": false}
      """
    Then the poll succeeds
    And the poll returns no SETs
    And the poll was held for at least 80% of the bank's long-poll timeout

  @long-polling @R8936-08 @R8936-07
  Scenario: An absent returnImmediately means a long poll
    When TPP A long-polls with:
      """
      {}
      """
    Then the poll succeeds
    And the poll returns no SETs
    And the poll was held for at least 80% of the bank's long-poll timeout

  @long-polling @AP-08 @R8936-08
  Scenario: A held long poll is answered promptly when an event arrives
    When TPP A long-polls while an event happens 300 ms later
    Then the poll succeeds
    And the poll returns every expected event
    And the held poll was answered within 1000 ms of the event

  @long-polling @answers-awaiting-at-once @R8936-18
  Scenario: A long poll with SETs already awaiting is answered at once
    Given 1 event happened for TPP A
    When TPP A long-polls with:
      """
      {"returnImmediately": false}
      """
    Then the poll succeeds
    And the poll returns every expected event
    And the poll was answered within 2000 ms

  @long-polling @AP-14
  Scenario: An acknowledge-only long poll is answered at once
    Given 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP A long-polls with:
      """
      {"returnImmediately": false, "maxEvents": 0, "ack": ["{jti1}"]}
      """
    Then the poll succeeds
    And the poll was answered within 2000 ms

  @short-polling-only @AP-08 @AP-16
  Scenario: A bank without long polling answers returnImmediately false at once (documented)
    When TPP A long-polls with:
      """
      {"returnImmediately": false}
      """
    Then the poll succeeds
    And the poll returns no SETs
    And the poll was answered within 2000 ms

  @long-poll-rejected @AP-08 @AP-16
  Scenario: A bank without long polling refuses returnImmediately false (documented)
    When TPP A long-polls with:
      """
      {"returnImmediately": false}
      """
    Then the response is an OBIE error with status 400

  @long-poll-rejected @AP-08 @AP-16
  Scenario: A bank that refuses returnImmediately false answers an absent one at once (documented)
    When TPP A long-polls with:
      """
      {}
      """
    Then the poll succeeds
    And the poll returns no SETs
    And the poll was answered within 2000 ms
