@trigger @polling-api @isolation
Feature: Isolation and delivery filtering
  A TPP only ever sees, acknowledges or reports its own SETs, only of the event types it
  subscribed to, and nothing is queued for a TPP without a subscription (AP-03, AP-17, N-11).

  Background:
    Given TPP A starts clean
    And TPP B starts clean

  @AP-17 @R8936-16
  Scenario: One TPP's SETs never appear in another TPP's poll
    Given TPP A is subscribed for polling
    And TPP B is subscribed for polling
    And 1 event happened for TPP A
    When TPP B polls
    Then the poll succeeds
    And the poll returns no SETs
    When TPP A polls
    Then the poll returns every expected event

  @AP-11 @AP-17 @R8936-11 @redelivers-unacked
  Scenario: Acknowledging another TPP's jti does not release it
    Given TPP A is subscribed for polling
    And TPP B is subscribed for polling
    And 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP B acknowledges the SETs of TPP A
    Then the poll succeeds or is refused with 400
    When TPP A polls
    Then the poll returns the SETs received before, with identical claims

  @AP-11 @AP-17 @R8936-11 @redelivers-unacked
  Scenario: Reporting another TPP's jti as an error changes nothing for that TPP
    Given TPP A is subscribed for polling
    And TPP B is subscribed for polling
    And 1 event happened for TPP A
    And TPP A has polled the awaiting SETs
    When TPP B reports the SETs of TPP A as errors
    Then the poll succeeds or is refused with 400
    When TPP A polls
    Then the poll returns the SETs received before, with identical claims

  @N-11 @AP-17 @two-event-types @subscription-api
  Scenario: A SET of a type the subscription does not ask for is not delivered
    Given TPP A is subscribed for polling to the first triggerable event type only
    When an event of the second triggerable type happens for TPP A
    And 1 event of the first triggerable type happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns exactly the expected events

  @ES-10 @N-11 @two-event-types @subscription-api
  Scenario: After a PUT, delivery follows the replaced EventTypes
    Given TPP A is subscribed for polling to the first triggerable event type only
    When TPP A replaces its event subscription with the second triggerable event type only
    Then the response status is 200
    When an event of the first triggerable type happens for TPP A
    And 1 event of the second triggerable type happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns exactly the expected events

  @ES-06 @N-11 @resource-update @two-event-types @subscription-api
  Scenario: A subscription with Version 3.1.1 receives resource-update events only
    When TPP A creates an event subscription with:
      """
      {"Data": {"Version": "3.1.1"}}
      """
    Then the response status is 201
    When an event of a type other than resource-update happens for TPP A
    And 1 resource-update event happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns exactly the expected events

  @AP-03 @subscription-api
  Scenario: Nothing is queued for a TPP without a subscription
    When an event happens for TPP A
    And TPP A is subscribed for polling
    And 1 event happened for TPP A
    When TPP A polls
    Then the poll succeeds
    And the poll returns exactly the expected events
