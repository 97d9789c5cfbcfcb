@realtime @push @push-registration @trigger
Feature: Real-time event notification (push)
  A TPP whose subscription names a CallbackUrl gets each event it subscribed to as a POST of
  the signed SET to that URL, retried with back-off while it answers 5xx, up to the bank's
  declared maximum (obie-rules.md section 7, RFC 8935). The harness's receiver plays the TPP:
  each scenario and TPP gets its own URL ending in /v3.1/event-notifications. What retries
  already scheduled do when the subscription changes is declared by push.pending_retries.

  Background:
    Given TPP A starts clean

  @R-02 @R-04 @R8935-01 @R8935-04
  Scenario: A triggered event is pushed as a POST of the compact SET without a bearer token
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And every push to TPP A is a POST of a compact SET with no bearer token

  @R-04 @R8935-02
  Scenario: Pushes carry the SET media type
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And every push to TPP A has the SET media type

  @R-04
  Scenario: Pushes carry an x-fapi-interaction-id for the TPP to play back
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And every push to TPP A carries an x-fapi-interaction-id

  @R-03
  Scenario: The push goes to the registered CallbackUrl as it is
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And every push to TPP A went to its registered CallbackUrl unchanged

  @R-04 @N-01 @J-01 @J-02 @J-03 @J-04 @J-05 @J-06 @N-02 @N-03 @R8417-01 @R8417-02 @R8417-06 @R8417-07 @R8417-09 @R8417-16
  Scenario: A pushed SET passes every check a polled SET gets
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And every SET pushed to TPP A passes the checks polling applies

  @R-05 @R-08
  Scenario: A 202 ends the delivery: nothing more is pushed
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets one push and no retry

  @R-08 @R8935-15 @push-retry-policy
  Scenario: 503 answers are retried with the declared back-off until the 202
    Given TPP A's receiver answers 503 to the first two attempts, then 202
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets attempts until its 202, spaced as declared, then no more

  @R-08 @R8935-15 @push-retry-policy
  Scenario: Retries stop at the declared maximum
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets every declared attempt, spaced as declared, then no more

  @R-08 @R8935-15 @push-4xx-final
  Scenario: A 400 answer is not retried
    Given TPP A's receiver answers 400 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets one push and no retry

  @R-08 @R8935-15 @push-timeout
  Scenario: An attempt left unanswered past the bank's timeout is retried
    Given TPP A's receiver holds its first answer past the bank's request timeout
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a retry after the held attempt

  @R-09 @push-retry-policy @push-catch-up @polling-api
  Scenario: After the last failed attempt the SET can be polled
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then after the last attempt TPP A finds the SET by polling

  # What retries already scheduled do when the subscription changes is the bank's choice (no
  # specification says): push.pending_retries declares it, and each of these scenarios needs it.
  @R-08 @push-retry-policy @pending-retries-stop @push-unregister
  Scenario: Deleting the subscription stops the retries already scheduled, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A deletes its event subscription
    Then TPP A's receiver gets no push after the subscription changed

  @R-08 @push-retry-policy @pending-retries-stop @subscription-api
  Scenario: Removing the CallbackUrl with PUT stops the retries already scheduled, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A removes the CallbackUrl from its subscription
    Then TPP A's receiver gets no push after the subscription changed

  @R-08 @push-retry-policy @pending-retries-follow @push-reregister
  Scenario: A PUT that changes the CallbackUrl moves the retries already scheduled, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A's second receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A moves its CallbackUrl to its second receiver
    Then TPP A's second receiver gets the next attempt
    And TPP A's receiver gets no push after the subscription changed

  @R-08 @push-retry-policy @pending-retries-cancel @push-reregister
  Scenario: A PUT that changes the CallbackUrl ends the retries already scheduled, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A's second receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A moves its CallbackUrl to its second receiver
    Then TPP A's receiver gets no push after the subscription changed
    And TPP A's second receiver gets no retry of an earlier event

  @R-08 @push-retry-policy @pending-retries-keep @push-unregister
  Scenario: Deleting the subscription leaves the retries already scheduled running, as declared
    Given TPP A's receiver answers 503 to every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A deletes its event subscription
    Then TPP A's receiver gets every declared attempt, spaced as declared, then no more

  # An event raised after the change is a new event: R-02 sends it only to a CallbackUrl the
  # subscription names, whatever the bank does with retries already scheduled.
  @R-02 @push-unregister
  Scenario: An event raised after the subscription was deleted is not pushed to its old CallbackUrl
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A deletes its event subscription
    And a new event is raised for TPP A
    Then TPP A's receiver gets no push of an event raised after the subscription changed

  @R-02 @subscription-api
  Scenario: An event raised after a PUT removed the CallbackUrl is not pushed to it
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A removes the CallbackUrl from its subscription
    And a new event is raised for TPP A
    Then TPP A's receiver gets no push of an event raised after the subscription changed

  @R-02 @N-11 @two-event-types @subscription-api
  Scenario: An event of a type a PUT removed from the subscription is not pushed
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver for the first triggerable type only
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    When TPP A changes its subscription to the second triggerable type only
    And a new event of the first triggerable type is raised for TPP A
    Then TPP A's receiver gets no push of an event raised after the subscription changed

  @R-02 @N-11 @two-event-types
  Scenario: Event types outside the subscription are not pushed
    Given TPP A's receiver accepts every push
    And TPP A is subscribed for push to its receiver for the first triggerable type only
    When an event of the second triggerable type is triggered for TPP A
    Then TPP A's receiver gets no push within the quiet period

  @R-02
  Scenario: One TPP's SETs are never pushed to another TPP's CallbackUrl
    Given TPP B starts clean
    And TPP A's receiver accepts every push
    And TPP B's receiver accepts every push
    And TPP A is subscribed for push to its receiver
    And TPP B is subscribed for push to its receiver
    When an event is triggered for TPP A
    Then TPP A's receiver gets a push of the triggered event
    And TPP B's receiver gets no push within the quiet period
