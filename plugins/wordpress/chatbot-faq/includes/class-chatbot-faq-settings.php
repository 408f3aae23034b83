<?php
/**
 * The plugin's settings: one option, overridden by constants from wp-config.php.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Reads and sanitises the settings. Constants defined in wp-config.php
 * (CHATBOT_FAQ_API_URL, CHATBOT_FAQ_API_KEY, CHATBOT_FAQ_VERIFY_TLS) win over the stored option.
 */
class Chatbot_FAQ_Settings {

	const OPTION = 'chatbot_faq_settings';

	const DEFAULT_RATE_LIMIT = 10;

	const MAX_RATE_LIMIT = 1000;

	/**
	 * Setting name => constant that overrides it.
	 *
	 * @var array<string, string>
	 */
	const CONSTANTS = array(
		'api_url'    => 'CHATBOT_FAQ_API_URL',
		'api_key'    => 'CHATBOT_FAQ_API_KEY',
		'verify_tls' => 'CHATBOT_FAQ_VERIFY_TLS',
	);

	/**
	 * The defaults of the stored option.
	 *
	 * @return array<string, mixed>
	 */
	public static function defaults() {
		return array(
			'api_url'     => '',
			'api_key'     => '',
			'title'       => '',
			'placeholder' => '',
			'verify_tls'  => true,
			'rate_limit'  => self::DEFAULT_RATE_LIMIT,
		);
	}

	/**
	 * The stored option merged over the defaults (constants not applied).
	 *
	 * @return array<string, mixed>
	 */
	public static function stored() {
		$stored = get_option( self::OPTION, array() );
		if ( ! is_array( $stored ) ) {
			$stored = array();
		}
		return array_merge( self::defaults(), array_intersect_key( $stored, self::defaults() ) );
	}

	/**
	 * Whether a setting comes from a wp-config.php constant.
	 *
	 * @param string $name Setting name.
	 * @return bool
	 */
	public static function is_constant( $name ) {
		return isset( self::CONSTANTS[ $name ] ) && defined( self::CONSTANTS[ $name ] );
	}

	/**
	 * One effective setting: the constant when defined, else the stored option.
	 *
	 * @param string $name Setting name.
	 * @return mixed
	 */
	public static function get( $name ) {
		if ( self::is_constant( $name ) ) {
			$value = constant( self::CONSTANTS[ $name ] );
			switch ( $name ) {
				case 'verify_tls':
					return (bool) filter_var( $value, FILTER_VALIDATE_BOOLEAN );
				case 'api_url':
					return self::sanitize_url( (string) $value );
				case 'api_key':
					return self::sanitize_key_value( (string) $value );
				default:
					return trim( (string) $value );
			}
		}
		$stored = self::stored();
		return isset( $stored[ $name ] ) ? $stored[ $name ] : null;
	}

	/**
	 * The chatbot's /chat endpoint, or '' when no API URL is set.
	 *
	 * @return string
	 */
	public static function chat_endpoint() {
		$url = (string) self::get( 'api_url' );
		if ( '' === $url ) {
			return '';
		}
		$url = untrailingslashit( $url );
		if ( '/chat' !== substr( $url, -5 ) ) {
			$url .= '/chat';
		}
		return $url;
	}

	/**
	 * Whether both the API URL and the API key are set.
	 *
	 * @return bool
	 */
	public static function is_configured() {
		return '' !== self::chat_endpoint() && '' !== (string) self::get( 'api_key' );
	}

	/**
	 * The chat box title: the setting, else the translated default.
	 *
	 * @return string
	 */
	public static function title() {
		$title = (string) self::get( 'title' );
		return '' !== $title ? $title : __( 'Smart FAQ', 'chatbot-faq' );
	}

	/**
	 * The input placeholder: the setting, else the translated default.
	 *
	 * @return string
	 */
	public static function placeholder() {
		$placeholder = (string) self::get( 'placeholder' );
		return '' !== $placeholder ? $placeholder : __( 'Ask a question...', 'chatbot-faq' );
	}

	/**
	 * Requests per minute allowed to one visitor.
	 *
	 * @return int
	 */
	public static function rate_limit() {
		/**
		 * Filters the number of questions one visitor may ask per minute (0 disables the limit).
		 *
		 * @param int $limit The limit from the settings page.
		 */
		return max( 0, (int) apply_filters( 'chatbot_faq_rate_limit', (int) self::get( 'rate_limit' ) ) );
	}

	/**
	 * An http(s) URL without credentials, query or fragment, or ''.
	 *
	 * @param string $url Raw URL.
	 * @return string
	 */
	public static function sanitize_url( $url ) {
		$url = esc_url_raw( trim( $url ), array( 'http', 'https' ) );
		if ( '' === $url ) {
			return '';
		}
		$parts = wp_parse_url( $url );
		if ( empty( $parts['host'] ) || isset( $parts['user'] ) || isset( $parts['pass'] ) ) {
			return '';
		}
		$clean = $parts['scheme'] . '://' . $parts['host'];
		if ( isset( $parts['port'] ) ) {
			$clean .= ':' . (int) $parts['port'];
		}
		if ( isset( $parts['path'] ) ) {
			$clean .= untrailingslashit( $parts['path'] );
		}
		return $clean;
	}

	/**
	 * An API key as sent in an HTTP header: printable ASCII without spaces (sanitize_text_field() would also
	 * drop %xx sequences, which a key may contain).
	 *
	 * @param string $key Raw key.
	 * @return string
	 */
	public static function sanitize_key_value( $key ) {
		return (string) preg_replace( '/[^\x21-\x7E]/', '', $key );
	}

	/**
	 * Sanitises the option posted by the settings page. An empty key keeps the stored one,
	 * so that the key never has to be printed back into the form.
	 *
	 * @param mixed $input Posted values.
	 * @return array<string, mixed>
	 */
	public static function sanitize( $input ) {
		$current = self::stored();
		if ( ! is_array( $input ) ) {
			return $current;
		}
		$clean = $current;

		if ( isset( $input['api_url'] ) ) {
			$raw              = trim( (string) wp_unslash( $input['api_url'] ) );
			$clean['api_url'] = self::sanitize_url( $raw );
			if ( '' !== $raw && '' === $clean['api_url'] ) {
				add_settings_error(
					self::OPTION,
					'chatbot_faq_api_url',
					__( 'The API URL must be an http:// or https:// address.', 'chatbot-faq' )
				);
				$clean['api_url'] = $current['api_url'];
			}
		}

		if ( ! empty( $input['api_key_clear'] ) ) {
			$clean['api_key'] = '';
		} elseif ( isset( $input['api_key'] ) ) {
			$key = self::sanitize_key_value( (string) wp_unslash( $input['api_key'] ) );
			if ( '' !== $key ) {
				$clean['api_key'] = $key;
			}
		}

		foreach ( array( 'title', 'placeholder' ) as $field ) {
			if ( isset( $input[ $field ] ) ) {
				$clean[ $field ] = sanitize_text_field( wp_unslash( $input[ $field ] ) );
			}
		}

		// An unticked checkbox is not posted: the settings form marks itself so that its absence means "off".
		if ( isset( $input['verify_tls'] ) || ! empty( $input['form'] ) ) {
			$clean['verify_tls'] = ! empty( $input['verify_tls'] );
		}

		if ( isset( $input['rate_limit'] ) ) {
			$clean['rate_limit'] = min( self::MAX_RATE_LIMIT, absint( $input['rate_limit'] ) );
		}

		return $clean;
	}
}
