@yapily @trigger
Feature: Yapily-style notifications
  An application subscribes a webhook URL to an event type with its application key and
  secret; each event of that type is POSTed there as the common event object, signed in the
  yapily-signature header, and retried until the application answers 2xx
  (webhook-dialects.md section 1, rfc-rules.md section 6).

  Background:
    Given TPP A starts clean
    And TPP A's receiver accepts every push

  @YA-02
  Scenario: Subscribing a webhook URL to an event type answers the subscription
    When TPP A subscribes its receiver to the first Yapily event type
    Then the Yapily answer is 201
    And the Yapily answer is the subscription of the receiver

  @YA-05
  Scenario: The list holds exactly the application's subscription, and one can be read
    Given TPP B starts clean
    And TPP B's receiver accepts every push
    And TPP A is subscribed to the first Yapily event type at its receiver
    When TPP A lists its Yapily subscriptions
    Then the Yapily answer is 200
    And the Yapily subscription list holds exactly the receiver's subscription
    When TPP B lists its Yapily subscriptions
    Then the Yapily subscription list is empty
    When TPP A reads its Yapily subscription
    Then the Yapily answer is 200

  @YA-03
  Scenario: A second subscription to the same event type is refused
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When TPP A subscribes its receiver to the first Yapily event type
    Then the Yapily answer refuses the request under YA-03

  @YA-04
  Scenario: An unknown event type is refused
    When TPP A subscribes to an unknown Yapily event type
    Then the Yapily answer refuses the request under YA-04

  @YA-04
  Scenario: A plain http webhook URL is refused
    When TPP A subscribes with a plain http URL on the public internet
    Then the Yapily answer refuses the request under YA-04

  @YA-04
  Scenario: A body that is not JSON is refused
    When TPP A subscribes with a body that is not JSON
    Then the Yapily answer refuses the request under YA-04

  @YA-01
  Scenario: The API needs the application's credentials
    When TPP A lists its Yapily subscriptions without credentials
    Then the Yapily answer is 401
    When TPP A lists its Yapily subscriptions with a wrong secret
    Then the Yapily answer is 401

  @YA-06 @YA-05
  Scenario: Deleting unsubscribes
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When TPP A deletes its Yapily subscription
    And TPP A lists its Yapily subscriptions
    Then the Yapily subscription list is empty
    When TPP A reads its Yapily subscription
    Then the Yapily answer is 404

  @YA-07 @YA-08 @YA-11
  Scenario: A triggered event arrives as the common event object of the subscribed type
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets a first attempt
    And every webhook to TPP A is the common event object of the triggered type

  @JWD-01 @JWD-02 @JWD-03 @JWD-04 @JWD-05 @JWD-06 @JWD-07
  Scenario: Every webhook is signed in yapily-signature over its exact body
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets a first attempt
    And every webhook to TPP A carries a valid yapily-signature

  @YA-09 @push-retry-policy
  Scenario: A notification not answered 2xx is retried with the same event id
    Given TPP A's receiver answers 503 to the first two attempts, then 202
    And TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets attempts until its 202, spaced as declared, then no more
    And every webhook to TPP A carries one event id

  @YA-10
  Scenario: A 2xx answer ends the delivery
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets one push and no retry

  # What retries already scheduled do when the subscription is deleted is the bank's choice
  # (the seed does not say): push.pending_retries declares it.
  @YA-09 @push-retry-policy @pending-retries-stop
  Scenario: Deleting the subscription stops the retries already scheduled, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets a first attempt
    When TPP A deletes its Yapily subscription
    Then TPP A's receiver gets no push after the subscription changed

  @YA-09 @push-retry-policy @pending-retries-keep
  Scenario: Deleting the subscription leaves the retries already scheduled running, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets a first attempt
    When TPP A deletes its Yapily subscription
    Then TPP A's receiver gets every declared attempt, spaced as declared, then no more

  @YA-06
  Scenario: An event raised after the subscription was deleted is not delivered to its URL
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets a first attempt
    When TPP A deletes its Yapily subscription
    And a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets no push of an event raised after the subscription changed

  @YA-11 @yapily-two-types
  Scenario: Event types the application did not subscribe to are not delivered
    Given TPP A is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the second type is triggered for TPP A
    Then TPP A's receiver gets no push within the quiet period

  @YA-12
  Scenario: One application's events never reach another application's URL
    Given TPP B starts clean
    And TPP B's receiver accepts every push
    And TPP A is subscribed to the first Yapily event type at its receiver
    And TPP B is subscribed to the first Yapily event type at its receiver
    When a Yapily event of the first type is triggered for TPP A
    Then TPP A's receiver gets one push and no retry
    And TPP B's receiver gets no push within the quiet period
