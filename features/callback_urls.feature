@callback-urls @callbacks
Feature: Callback URL API
  The legacy registration of a TPP's real-time endpoint: one per TPP, and the URL must end in
  the API version followed by /event-notifications (obie-rules.md section 3).

  Background:
    Given TPP A starts clean

  @CB-02 @CB-07
  Scenario: Registering a callback URL answers 201 with the resource
    When TPP A registers the callback URL "https://tpp.example/open-banking/v3.1/event-notifications"
    Then the response status is 201
    And the response body is valid against OBCallbackUrlResponse1
    And the callback URL response reflects the request

  @CB-03
  Scenario: A second callback URL for the same TPP is refused with 409
    Given TPP A has registered a callback URL
    When TPP A registers the callback URL "https://tpp.example/open-banking/v3.1/event-notifications"
    Then the response status is 409

  @CB-04
  Scenario: A callback URL without the version and /event-notifications suffix is refused
    When TPP A registers the callback URL "https://tpp.example/hooks"
    Then the response is an OBIE error with status 400

  @CB-02 @G-10
  Scenario Outline: A callback URL whose <problem> is refused with 400
    When TPP A registers a callback URL with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                   | body                                                                                  |
      | Url is missing            | {"Data": {"Version": "{version}"}}                                                    |
      | Version is missing        | {"Data": {"Url": "https://tpp.example/open-banking/v3.1/event-notifications"}}        |
      | Version is empty          | {"Data": {"Url": "https://tpp.example/open-banking/v3.1/event-notifications", "Version": ""}} |
      | Version is longer than 10 | {"Data": {"Url": "https://tpp.example/open-banking/v3.1/event-notifications", "Version": "3.1.11.0001"}} |
      | Version is not a string   | {"Data": {"Url": "https://tpp.example/open-banking/v3.1/event-notifications", "Version": 3.1}} |
      | Url is not a string       | {"Data": {"Url": 42, "Version": "{version}"}}                                         |
      | Data is missing           | {}                                                                                    |

  @CB-02 @G-10
  Scenario Outline: A callback URL replacement whose <problem> is refused with 400
    Given TPP A has registered a callback URL
    When TPP A replaces its callback URL with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                   | body                                                                                                              |
      | Data is missing           | {}                                                                                                                |
      | Url is missing            | {"Data": {"CallbackUrlId": "{callback_url_id}", "Version": "{version}"}}                                          |
      | Version is missing        | {"Data": {"CallbackUrlId": "{callback_url_id}", "Url": "https://tpp.example/open-banking/v3.1/event-notifications"}} |
      | Version is empty          | {"Data": {"CallbackUrlId": "{callback_url_id}", "Url": "https://tpp.example/open-banking/v3.1/event-notifications", "Version": ""}} |
      | Version is longer than 10 | {"Data": {"CallbackUrlId": "{callback_url_id}", "Url": "https://tpp.example/open-banking/v3.1/event-notifications", "Version": "3.1.11.0001"}} |

  @CB-02
  Scenario: Listing shows the registered callback URL
    Given TPP A has registered a callback URL
    When TPP A lists its callback URLs
    Then the response status is 200
    And the response body is valid against OBCallbackUrlsResponse1
    And the callback URL list holds exactly the registered callback URL

  @CB-01 @CB-02
  Scenario: PUT replaces the callback URL
    Given TPP A has registered a callback URL
    When TPP A replaces its callback URL with "https://tpp.example/v2/open-banking/v3.1/event-notifications"
    Then the response status is 200
    And the callback URL response reflects the request

  @CB-01 @CB-07
  Scenario: DELETE answers 204 without a body
    Given TPP A has registered a callback URL
    When TPP A deletes its callback URL
    Then the response status is 204
    And the response has no body
    When TPP A lists its callback URLs
    Then the callback URL list is empty

  @G-11 @CB-01
  Scenario: PUT and DELETE of an unknown callback URL id are 400, not 404
    When TPP A deletes a callback URL that does not exist
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Resource.NotFound"
    When TPP A replaces a callback URL that does not exist
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Resource.NotFound"

  @CB-01 @G-10
  Scenario: A TPP cannot delete another TPP's callback URL
    Given TPP B starts clean
    And TPP B has registered a callback URL
    When TPP A deletes the callback URL of TPP B
    Then the response status is 403
