<?php
/**
 * Calls the chatbot's POST /chat with the API key, server-side.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * A thin client of the chatbot API. Every failure becomes a WP_Error whose message is safe to show a
 * visitor (it never contains the key, the chatbot's address or its raw answer).
 */
class Chatbot_FAQ_Client {

	const DEFAULT_TIMEOUT = 30;

	/**
	 * Asks the chatbot one question.
	 *
	 * @param string $message The visitor's question, already sanitised.
	 * @param string $request_id An id sent as X-Request-ID, to match WordPress and chatbot logs.
	 * @return array{reply: string, sources: array<int, string>}|WP_Error
	 */
	public static function ask( $message, $request_id = '' ) {
		if ( ! Chatbot_FAQ_Settings::is_configured() ) {
			return new WP_Error(
				'chatbot_faq_not_configured',
				__( 'The chatbot is not configured yet. Please try again later.', 'chatbot-faq' ),
				array( 'status' => 503 )
			);
		}

		/**
		 * Filters how long WordPress waits for the chatbot, in seconds.
		 *
		 * @param int $timeout Seconds.
		 */
		$timeout = (int) apply_filters( 'chatbot_faq_timeout', self::DEFAULT_TIMEOUT );

		$headers = array(
			'Content-Type' => 'application/json',
			'Accept'       => 'application/json',
			'x-api-key'    => (string) Chatbot_FAQ_Settings::get( 'api_key' ),
		);
		if ( '' !== $request_id ) {
			$headers['X-Request-ID'] = $request_id;
		}
		// Every visitor reaches the chatbot from this server's address: name the visitor's, so that the
		// chatbot's per-address limit counts each visitor rather than the whole site.
		$client_ip = Chatbot_FAQ_Rate_Limiter::client_ip();
		if ( false !== filter_var( $client_ip, FILTER_VALIDATE_IP ) ) {
			$headers['X-Chatbot-Client-IP'] = $client_ip;
		}

		$response = wp_remote_post(
			Chatbot_FAQ_Settings::chat_endpoint(),
			array(
				'timeout'     => max( 1, $timeout ),
				'redirection' => 0,
				'sslverify'   => (bool) Chatbot_FAQ_Settings::get( 'verify_tls' ),
				'headers'     => $headers,
				'body'        => wp_json_encode( array( 'message' => $message ) ),
				'data_format' => 'body',
			)
		);

		if ( is_wp_error( $response ) ) {
			self::log( 'request failed: ' . $response->get_error_message() );
			return new WP_Error(
				'chatbot_faq_unreachable',
				__( 'The chatbot cannot be reached right now. Please try again in a moment.', 'chatbot-faq' ),
				array( 'status' => 502 )
			);
		}

		$status = (int) wp_remote_retrieve_response_code( $response );
		$body   = json_decode( (string) wp_remote_retrieve_body( $response ), true );

		if ( 200 === $status && is_array( $body ) && isset( $body['reply'] ) && is_string( $body['reply'] ) ) {
			return array(
				'reply'   => $body['reply'],
				'sources' => self::sources( $body ),
			);
		}

		self::log( sprintf( 'chatbot answered HTTP %d', $status ) );
		return self::error_for_status( $status );
	}

	/**
	 * The answer's sources as plain strings (titles or URLs), whatever shape the chatbot used.
	 *
	 * @param array<string, mixed> $body Decoded answer.
	 * @return array<int, string>
	 */
	private static function sources( $body ) {
		if ( empty( $body['sources'] ) || ! is_array( $body['sources'] ) ) {
			return array();
		}
		$sources = array();
		foreach ( $body['sources'] as $source ) {
			if ( is_array( $source ) ) {
				foreach ( array( 'title', 'question', 'name', 'url', 'id' ) as $field ) {
					if ( isset( $source[ $field ] ) && is_scalar( $source[ $field ] ) ) {
						$source = $source[ $field ];
						break;
					}
				}
			}
			if ( is_scalar( $source ) && '' !== (string) $source ) {
				$sources[] = sanitize_text_field( (string) $source );
			}
		}
		return array_slice( $sources, 0, 10 );
	}

	/**
	 * A visitor-safe error for a chatbot HTTP status.
	 *
	 * @param int $status HTTP status from the chatbot.
	 * @return WP_Error
	 */
	private static function error_for_status( $status ) {
		if ( 400 === $status || 413 === $status ) {
			return new WP_Error(
				'chatbot_faq_rejected',
				__( 'The chatbot could not process this question. Please rephrase it.', 'chatbot-faq' ),
				array( 'status' => 400 )
			);
		}
		if ( 429 === $status || 503 === $status ) {
			return new WP_Error(
				'chatbot_faq_busy',
				__( 'The chatbot is busy. Please try again in a moment.', 'chatbot-faq' ),
				array( 'status' => 503 )
			);
		}
		if ( 504 === $status ) {
			return new WP_Error(
				'chatbot_faq_timeout',
				__( 'The chatbot took too long to answer. Please try again.', 'chatbot-faq' ),
				array( 'status' => 504 )
			);
		}
		// 401/403 mean a wrong key in the settings: the visitor gets the generic message, the log says more.
		return new WP_Error(
			'chatbot_faq_upstream',
			__( 'The chatbot cannot answer right now. Please try again later.', 'chatbot-faq' ),
			array( 'status' => 502 )
		);
	}

	/**
	 * Writes a line to the PHP error log when WP_DEBUG_LOG is on. Never logs the key.
	 *
	 * @param string $line What happened.
	 */
	private static function log( $line ) {
		if ( defined( 'WP_DEBUG' ) && WP_DEBUG && defined( 'WP_DEBUG_LOG' ) && WP_DEBUG_LOG ) {
			// phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log -- opt-in debug logging.
			error_log( 'chatbot-faq: ' . $line );
		}
	}
}
