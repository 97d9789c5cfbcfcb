@common
Feature: Rules common to every event endpoint
  Interaction ids, authentication, media types, methods and the error body are the same on
  every OBIE endpoint (obie-rules.md section 1).

  Background:
    Given TPP A starts clean

  @G-06 @subscription-api
  Scenario: The x-fapi-interaction-id of a request is played back
    Given the next request has header "x-fapi-interaction-id" set to "93bac548-d2de-4546-b106-880a5018460d"
    When TPP A lists its event subscriptions
    Then the response status is 200
    And the response echoes the x-fapi-interaction-id

  @G-06 @subscription-api
  Scenario: Without a request interaction id the bank mints a UUID
    When TPP A lists its event subscriptions
    Then the response status is 200
    And the response carries a new x-fapi-interaction-id

  @G-06 @G-12 @subscription-api
  Scenario: Error responses play back the interaction id too
    Given the next request has header "x-fapi-interaction-id" set to "6b1f6d7e-52c7-4a8b-8c4f-2f0ad1e1c3b9"
    When TPP A deletes an event subscription that does not exist
    Then the response is an OBIE error
    And the response echoes the x-fapi-interaction-id

  @G-03 @G-10 @R8936-28 @subscription-api
  Scenario: A request without an access token is a 401 without a body
    Given the next request has no access token
    When TPP A lists its event subscriptions
    Then the response status is 401
    And the response challenges with the Bearer scheme
    And the response has no body

  @G-03 @G-10 @R8936-28 @polling-api
  Scenario: Polling without an access token is a 401 without a body
    Given the next request has no access token
    When TPP A polls
    Then the response status is 401
    And the response challenges with the Bearer scheme
    And the response has no body

  @G-03 @G-10 @R8936-28 @polling-api
  Scenario: Polling with an invalid access token is a 401 without a body
    Given the next request has an invalid access token
    When TPP A polls
    Then the response status is 401
    And the response challenges with the Bearer scheme
    And the response has no body

  @G-03 @G-10 @R8936-28 @polling-api
  Scenario: Polling with a malformed Authorization header is a 401 without a body
    Given the next request has a malformed Authorization header
    When TPP A polls
    Then the response status is 401
    And the response challenges with the Bearer scheme
    And the response has no body

  @G-03 @G-10 @R8936-28 @subscription-api
  Scenario: An invalid access token is a 401 without a body
    Given the next request has an invalid access token
    When TPP A lists its event subscriptions
    Then the response status is 401
    And the response challenges with the Bearer scheme
    And the response has no body

  @G-06 @G-10 @polling-api
  Scenario: A 401 plays back the interaction id too
    Given the next request has no access token
    And the next request has header "x-fapi-interaction-id" set to "2a3c4d9e-0f1b-4c5d-8e7f-6a5b4c3d2e1f"
    When TPP A polls
    Then the response status is 401
    And the response echoes the x-fapi-interaction-id

  @G-04 @G-10 @restricted-scope @subscription-api
  Scenario: A token without an event scope is refused with 403
    Given the next request uses a token without the required scope
    When TPP A lists its event subscriptions
    Then the response status is 403

  @G-07 @G-10 @subscription-api
  Scenario: A subscription sent as text/plain is refused with 415
    Given the next request has header "Content-Type" set to "text/plain"
    When TPP A creates a polling event subscription
    Then the response status is 415

  @G-07 @AP-18 @polling-api
  Scenario: A poll sent as text/plain is refused with 415
    Given the next request has header "Content-Type" set to "text/plain"
    When TPP A polls
    Then the response status is 415

  @G-08 @AP-18 @polling-api
  Scenario: A poll whose Accept admits no JSON is refused with 406
    Given the next request has header "Accept" set to "text/xml"
    When TPP A polls
    Then the response status is 406

  @G-04 @AP-02 @restricted-scope @polling-api
  Scenario: A poll with a token without an event scope is refused with 403
    Given the next request uses a token without the required scope
    When TPP A polls
    Then the response status is 403

  @G-08 @subscription-api
  Scenario: An Accept header that admits no JSON is refused with 406
    Given the next request has header "Accept" set to "text/xml"
    When TPP A lists its event subscriptions
    Then the response status is 406

  @G-10 @AP-18 @polling-api
  Scenario: An unsupported method on /events is refused with 405
    When TPP A sends GET "/events"
    Then the response status is 405

  @G-12 @G-09 @subscription-api
  Scenario: A 400 carries an OBErrorResponse1 body as application/json
    When TPP A creates an event subscription with:
      """
      {"Data": {}}
      """
    Then the response is an OBIE error with status 400
    And the response body is valid against OBErrorResponse1
    And the response content type is application/json

  @G-11 @G-13 @subscription-api
  Scenario: A resource that does not exist is reported with UK.OBIE.Resource.NotFound
    When TPP A deletes an event subscription that does not exist
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Resource.NotFound"
