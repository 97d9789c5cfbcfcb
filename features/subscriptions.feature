@subscription-api @subscriptions
Feature: Event Notification Subscription API
  The bank keeps at most one event subscription per TPP client and manages it with
  POST, GET, PUT and DELETE on /event-subscriptions (obie-rules.md section 2).

  Background:
    Given TPP A starts clean

  @ES-02 @G-10 @G-16
  Scenario: Creating a polling subscription answers 201 with the new resource
    When TPP A creates a polling event subscription
    Then the response status is 201
    And the response body is valid against OBEventSubscriptionResponse1
    And the subscription response reflects the request
    And the response links are absolute URLs

  @ES-03
  Scenario: A second subscription for the same TPP is refused with 409
    Given TPP A is subscribed for polling
    When TPP A creates a polling event subscription
    Then the response status is 409
    And any error body is an OBIE error with code "UK.OBIE.Rules.ResourceAlreadyExists"

  @ES-08 @G-15
  Scenario: Listing with no subscription answers an empty array
    When TPP A lists its event subscriptions
    Then the response status is 200
    And the response body is valid against OBEventSubscriptionsResponse1
    And the subscription list is empty

  @ES-08
  Scenario: Listing after creating shows exactly that subscription
    Given TPP A is subscribed for polling
    When TPP A lists its event subscriptions
    Then the response status is 200
    And the response body is valid against OBEventSubscriptionsResponse1
    And the subscription list holds exactly the created subscription

  @ES-10 @G-10
  Scenario: PUT replaces the subscription and answers the updated resource
    Given TPP A is subscribed for polling to the first supported event type only
    When TPP A replaces its event subscription with every supported event type
    Then the response status is 200
    And the response body is valid against OBEventSubscriptionResponse1
    And the subscription response reflects the request
    When TPP A lists its event subscriptions
    Then the subscription list holds exactly the replaced subscription

  @G-11 @ES-10 @G-13
  Scenario: PUT of an unknown subscription id is a 400, not a 404
    When TPP A replaces an event subscription that does not exist
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Resource.NotFound"

  @G-11 @ES-11 @G-13
  Scenario: DELETE of an unknown subscription id is a 400, not a 404
    When TPP A deletes an event subscription that does not exist
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Resource.NotFound"

  @ES-11 @G-10
  Scenario: DELETE answers 204 without a body and the subscription is gone
    Given TPP A is subscribed for polling
    When TPP A deletes its event subscription
    Then the response status is 204
    And the response has no body
    When TPP A lists its event subscriptions
    Then the subscription list is empty
    When TPP A creates a polling event subscription
    Then the response status is 201

  @ES-10 @G-10
  Scenario: A TPP cannot replace another TPP's subscription
    Given TPP B starts clean
    And TPP B is subscribed for polling
    When TPP A replaces the event subscription of TPP B
    Then the response status is 403
    When TPP B lists its event subscriptions
    Then the subscription list holds exactly the created subscription

  @ES-11 @G-10
  Scenario: A TPP cannot delete another TPP's subscription
    Given TPP B starts clean
    And TPP B is subscribed for polling
    When TPP A deletes the event subscription of TPP B
    Then the response status is 403
    When TPP B lists its event subscriptions
    Then the subscription list holds exactly the created subscription

  @ES-04 @G-13
  Scenario: A subscription without Version is refused
    When TPP A creates an event subscription with:
      """
      {"Data": {}}
      """
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Field.Missing"

  @ES-04 @G-10
  Scenario: A subscription without Data is refused
    When TPP A creates an event subscription with:
      """
      {"Version": "{version}"}
      """
    Then the response is an OBIE error with status 400

  @ES-04 @G-10
  Scenario Outline: A subscription whose <problem> is refused with 400
    When TPP A creates an event subscription with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                            | body                                                                   |
      | Version is empty                   | {"Data": {"Version": ""}}                                              |
      | Version is longer than 10          | {"Data": {"Version": "3.1.11.0001"}}                                   |
      | CallbackUrl is not a URI           | {"Data": {"Version": "{version}", "CallbackUrl": "not a uri"}}         |
      | EventTypes is not an array         | {"Data": {"Version": "{version}", "EventTypes": "urn:uk:org:openbanking:events:resource-update"}} |
      | an EventTypes item is not a string | {"Data": {"Version": "{version}", "EventTypes": [42]}}                 |
      | Version is not a string            | {"Data": {"Version": 3.1}}                                             |
      | Data is not an object              | {"Data": "{version}"}                                                  |

  @ES-10 @G-10
  Scenario Outline: A PUT whose <problem> is refused with 400
    Given TPP A is subscribed for polling
    When TPP A replaces its event subscription with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                               | body                                                                                                  |
      | Data is missing                       | {}                                                                                                    |
      | EventSubscriptionId is missing        | {"Data": {"Version": "{version}"}}                                                                    |
      | EventSubscriptionId is empty          | {"Data": {"EventSubscriptionId": "", "Version": "{version}"}}                                         |
      | EventSubscriptionId is longer than 40 | {"Data": {"EventSubscriptionId": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "Version": "{version}"}} |
      | Version is missing                    | {"Data": {"EventSubscriptionId": "{subscription_id}"}}                                                |
      | Version is empty                      | {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": ""}}                                 |
      | Version is longer than 10             | {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": "3.1.11.0001"}}                      |
      | CallbackUrl is not a URI              | {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": "{version}", "CallbackUrl": "not a uri"}} |
      | EventTypes is not an array            | {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": "{version}", "EventTypes": "UK.OBIE.Resource-Update"}} |
      | an EventTypes item is not a string    | {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": "{version}", "EventTypes": [42]}}    |

  @ES-10 @spec-3.1.11
  Scenario: The PUT request object is closed: an unknown top-level member is refused
    Given TPP A is subscribed for polling
    When TPP A replaces its event subscription with:
      """
      {"Data": {"EventSubscriptionId": "{subscription_id}", "Version": "{version}"}, "Extra": true}
      """
    Then the response is an OBIE error with status 400

  @ES-04 @spec-3.1.11
  Scenario: The request object is closed: an unknown top-level member is refused
    When TPP A creates an event subscription with:
      """
      {"Data": {"Version": "{version}"}, "Extra": true}
      """
    Then the response is an OBIE error with status 400

  @ES-07 @G-13
  Scenario: An unsupported event type is refused with UK.OBIE.Unsupported.EventType
    When TPP A creates an event subscription with:
      """
      {"Data": {"Version": "{version}", "EventTypes": ["UK.OBIE.No-Such-Event"]}}
      """
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Unsupported.EventType"
    And the error names the field "EventTypes"

  @ES-05
  Scenario: A CallbackUrl that does not end in the version and /event-notifications is refused
    When TPP A creates an event subscription with:
      """
      {"Data": {"Version": "{version}", "CallbackUrl": "https://tpp.example/webhooks/events"}}
      """
    Then the response is an OBIE error with status 400

  @ES-05 @realtime
  Scenario: A well-formed CallbackUrl is accepted for real-time notifications
    When TPP A creates an event subscription with:
      """
      {"Data": {"Version": "{version}", "CallbackUrl": "https://tpp.example/open-banking/v3.1/event-notifications"}}
      """
    Then the response status is 201
    And the subscription response reflects the request

  @ES-08 @G-10
  Scenario: A TPP's subscription list never shows another TPP's subscription
    Given TPP B starts clean
    And TPP B is subscribed for polling
    When TPP A lists its event subscriptions
    Then the response status is 200
    And the subscription list is empty

  @ES-10 @G-07
  Scenario: A PUT sent as text/plain is refused with 415
    Given TPP A is subscribed for polling
    And the next request has header "Content-Type" set to "text/plain"
    When TPP A replaces its event subscription with every supported event type
    Then the response status is 415

  @ES-09
  Scenario: There is no GET of a single subscription
    Given TPP A is subscribed for polling
    When TPP A sends GET "/event-subscriptions/{subscription_id}"
    Then the response status is 405 or 404
