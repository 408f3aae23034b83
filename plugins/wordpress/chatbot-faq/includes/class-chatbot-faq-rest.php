<?php
/**
 * The REST route the chat box talks to: POST /wp-json/chatbot-faq/v1/chat.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Proxies a visitor's question to the chatbot. The browser never sees the chatbot's address nor its key.
 */
class Chatbot_FAQ_REST {

	const NAMESPACE_V1 = 'chatbot-faq/v1';

	const MAX_MESSAGE_LENGTH = 2000;

	/**
	 * Hooks the route.
	 */
	public static function register_hooks() {
		add_action( 'rest_api_init', array( __CLASS__, 'register_routes' ) );
	}

	/**
	 * The route's public URL, for the chat box.
	 *
	 * @return string
	 */
	public static function chat_url() {
		return rest_url( self::NAMESPACE_V1 . '/chat' );
	}

	/**
	 * Registers POST chatbot-faq/v1/chat.
	 */
	public static function register_routes() {
		register_rest_route(
			self::NAMESPACE_V1,
			'/chat',
			array(
				'methods'             => WP_REST_Server::CREATABLE,
				'callback'            => array( __CLASS__, 'chat' ),
				'permission_callback' => array( __CLASS__, 'check_nonce' ),
				'args'                => array(
					'message' => array(
						'description'       => __( 'The visitor\'s question.', 'chatbot-faq' ),
						'type'              => 'string',
						'required'          => true,
						'sanitize_callback' => array( __CLASS__, 'sanitize_message' ),
						'validate_callback' => array( __CLASS__, 'validate_message' ),
					),
				),
			)
		);
	}

	/**
	 * Only pages that showed the chat box may post: they carry a wp_rest nonce in X-WP-Nonce.
	 * (WordPress checks that nonce for logged-in users; this makes it mandatory for everyone.)
	 *
	 * @param WP_REST_Request $request The request.
	 * @return true|WP_Error
	 */
	public static function check_nonce( $request ) {
		$nonce = (string) $request->get_header( 'X-WP-Nonce' );
		if ( '' === $nonce || ! wp_verify_nonce( $nonce, 'wp_rest' ) ) {
			return new WP_Error(
				'chatbot_faq_bad_nonce',
				__( 'This page has expired. Please reload it and ask again.', 'chatbot-faq' ),
				array( 'status' => 403 )
			);
		}
		return true;
	}

	/**
	 * Keeps the text of a question: valid UTF-8 without control characters (newlines and tabs kept), trimmed.
	 *
	 * The question is plain text sent as JSON and never printed as HTML (the reply is shown with textContent),
	 * so tags are not stripped: a visitor asking "what does <br> mean?" or "is 3 < 5?" is relayed verbatim,
	 * where sanitize_textarea_field() would drop the tag or turn "<" into "&lt;".
	 *
	 * @param mixed $value Raw value.
	 * @return string
	 */
	public static function sanitize_message( $value ) {
		if ( ! is_scalar( $value ) ) {
			return '';
		}
		$text = wp_check_invalid_utf8( (string) $value, true );
		$text = (string) preg_replace( '/[^\P{Cc}\t\n]/u', '', str_replace( "\r\n", "\n", $text ) );
		return trim( $text );
	}

	/**
	 * A question is a non-empty string of at most MAX_MESSAGE_LENGTH characters.
	 *
	 * @param mixed $value Raw value.
	 * @return true|WP_Error
	 */
	public static function validate_message( $value ) {
		if ( ! is_string( $value ) || '' === trim( $value ) ) {
			return new WP_Error(
				'chatbot_faq_empty',
				__( 'Please type a question.', 'chatbot-faq' ),
				array( 'status' => 400 )
			);
		}
		if ( mb_strlen( $value ) > self::MAX_MESSAGE_LENGTH ) {
			return new WP_Error(
				'chatbot_faq_too_long',
				/* translators: %d: maximum number of characters. */
				sprintf( __( 'Please keep your question under %d characters.', 'chatbot-faq' ), self::MAX_MESSAGE_LENGTH ),
				array( 'status' => 400 )
			);
		}
		return true;
	}

	/**
	 * Answers one question.
	 *
	 * @param WP_REST_Request $request The request.
	 * @return WP_REST_Response|WP_Error
	 */
	public static function chat( $request ) {
		$message = (string) $request->get_param( 'message' );
		if ( '' === $message ) {
			return self::validate_message( '' );
		}

		$allowed = Chatbot_FAQ_Rate_Limiter::hit();
		if ( true !== $allowed ) {
			$response = new WP_REST_Response(
				array(
					'code'    => 'chatbot_faq_rate_limited',
					'message' => __( 'You are asking too fast. Please wait a moment and try again.', 'chatbot-faq' ),
					'data'    => array( 'status' => 429 ),
				),
				429
			);
			$response->header( 'Retry-After', (string) $allowed );
			return $response;
		}

		$request_id = wp_generate_uuid4();
		$answer     = Chatbot_FAQ_Client::ask( $message, $request_id );
		if ( is_wp_error( $answer ) ) {
			return $answer;
		}

		$response = new WP_REST_Response( $answer, 200 );
		$response->header( 'Cache-Control', 'no-store' );
		$response->header( 'X-Request-ID', $request_id );
		return $response;
	}
}
